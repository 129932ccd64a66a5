/* Minimal Cortex-M4F start-up for QEMU mps2-an386: vector table, .data copy,
 * .bss clear, FPU on, main(), then semihosting exit. */
#include <stdint.h>

extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss, _stack_top;
int main(void);
#define STACK_PAINT 0xCAFEF00Du

/* Bytes of stack used so far (highest painted word overwritten). */
uint32_t stack_high_water(void)
{
    const uint32_t *p = &_ebss;
    while (p < &_stack_top && *p == STACK_PAINT) p++;
    return (uint32_t)&_stack_top - (uint32_t)p;
}
uint32_t static_ram(void) { return (uint32_t)&_ebss - (uint32_t)&_sdata; }
void semihost_exit(int status);

void reset_handler(void)
{
    uint32_t *src = &_sidata, *dst = &_sdata;
    while (dst < &_edata) *dst++ = *src++;
    for (dst = &_sbss; dst < &_ebss;) *dst++ = 0;
    /* Paint the free RAM between .bss and the stack, to measure the stack's high-water mark. */
    uint32_t sp;
    __asm volatile("mov %0, sp" : "=r"(sp));
    for (dst = &_ebss; (uint32_t)dst < sp - 64;) *dst++ = STACK_PAINT;
    /* CPACR: full access to CP10 and CP11 (the FPU). */
    *(volatile uint32_t *)0xE000ED88 |= 0xFu << 20;
    __asm volatile("dsb\n isb");
    semihost_exit(main());
    for (;;) {}
}

static void fault_handler(void) { semihost_exit(3); for (;;) {} }

__attribute__((section(".vectors"), used))
static const void *const vectors[16] = {
    &_stack_top, reset_handler, fault_handler, fault_handler,
    fault_handler, fault_handler, fault_handler, 0, 0, 0, 0,
    fault_handler, fault_handler, 0, fault_handler, fault_handler,
};

/* ---- semihosting (bkpt 0xAB) ---- */
static int semihost(int op, const void *arg)
{
    register int r0 __asm("r0") = op;
    register const void *r1 __asm("r1") = arg;
    __asm volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

void semihost_write0(const char *s) { semihost(0x04, s); }

void semihost_exit(int status)
{
    /* SYS_EXIT with ADP_Stopped_ApplicationExit (0x20026) or RunTimeErrorUnknown (0x20023). */
    semihost(0x18, (const void *)(status == 0 ? 0x20026 : 0x20023));
}

/* newlib's libm may set errno; nano newlib wants these. */
int *__errno(void) { static int e; return &e; }
