/* A straightforward C LSTM step for the Cortex-M4F, the reference the
 * firmware's instruction counts are compared with (issue 7, MCU-COUNTING.md):
 * one-hot input as a column gather, plain loops, expf/tanhf from newlib, the
 * matrices in lstm-core's file layout (model.h, written by bench/latency
 * mkmodel from the same model file the firmware is built with).
 *
 * Per generated token, as firmware-example counts it: one step (feeding the
 * previous symbol), the output layer, softmax (temperature 0.8, the
 * firmware's default) and multinomial sampling. Instructions are counted with
 * the CMSDK APB timer 0 under `qemu -icount shift=7` (3.2 ticks per
 * instruction); the phases are timed too (matrix part = gather + W_hh.h +
 * bias; activations; output layer; softmax + sampling). */
#include <math.h>
#include <stdint.h>
#include "model.h"

#ifndef LENGTH
#define LENGTH 200
#endif
#define TEMPERATURE 0.8f

void semihost_write0(const char *s);
uint32_t stack_high_water(void);
uint32_t static_ram(void);

#define TIMER_CTRL (*(volatile uint32_t *)0x40000000u)
#define TIMER_VALUE (*(volatile uint32_t *)0x40000004u)
#define TIMER_RELOAD (*(volatile uint32_t *)0x40000008u)
static inline uint32_t now(void) { return ~TIMER_VALUE; }

static float h[H], c[H], a[4 * H], logits[V];
static uint32_t rng_state = 42u;

static float uniform01(void)
{
    uint32_t s = rng_state;
    s ^= s << 13; s ^= s >> 17; s ^= s << 5;
    rng_state = s;
    return (float)(s >> 8) * (1.0f / 16777216.0f);
}

static float sigmoidf(float x) { return 1.0f / (1.0f + expf(-x)); }

/* gather + W_hh.h + bias -> a */
static void matrix_part(int x)
{
    for (int g = 0; g < 4; g++) {
        const float *wx = &W_IH[(g * V + x) * H];
        for (int k = 0; k < H; k++) {
            const float *w = &W_HH[(g * H + k) * H];
            float acc = B[g * H + k] + wx[k];
            for (int j = 0; j < H; j++) acc += w[j] * h[j];
            a[g * H + k] = acc;
        }
    }
}

static void activations(void)
{
    for (int k = 0; k < H; k++) {
        float i = sigmoidf(a[k]), f = sigmoidf(a[H + k]);
        float g = tanhf(a[2 * H + k]), o = sigmoidf(a[3 * H + k]);
        c[k] = f * c[k] + i * g;
        h[k] = o * tanhf(c[k]);
    }
}

static void output_layer(void)
{
    for (int y = 0; y < V; y++) {
        const float *w = &W_Y[y * H];
        float acc = B_Y[y];
        for (int k = 0; k < H; k++) acc += w[k] * h[k];
        logits[y] = acc;
    }
}

static int softmax_sample(void)
{
    float m = logits[0];
    for (int y = 1; y < V; y++) if (logits[y] > m) m = logits[y];
    float sum = 0.0f;
    for (int y = 0; y < V; y++) { logits[y] = expf((logits[y] - m) / TEMPERATURE); sum += logits[y]; }
    float u = uniform01() * sum, acc = 0.0f;
    for (int y = 0; y < V - 1; y++) { acc += logits[y]; if (u < acc) return y; }
    return V - 1;
}

static char *put_u(char *p, uint32_t v)
{
    char tmp[12]; int n = 0;
    do { tmp[n++] = (char)('0' + v % 10); v /= 10; } while (v);
    while (n) *p++ = tmp[--n];
    return p;
}

static char *put_s(char *p, const char *s) { while (*s) *p++ = *s++; return p; }

/* value * 1000 / den, printed with three decimals */
static char *put_ratio(char *p, uint64_t num, uint64_t den)
{
    uint64_t milli = (num * 1000 + den / 2) / den;
    p = put_u(p, (uint32_t)(milli / 1000));
    *p++ = '.';
    uint32_t frac = (uint32_t)(milli % 1000);
    *p++ = (char)('0' + frac / 100); *p++ = (char)('0' + frac / 10 % 10); *p++ = (char)('0' + frac % 10);
    return p;
}

/* ticks -> instructions: round(ticks / 3.2) */
static uint64_t instr(uint64_t ticks) { return (ticks * 10 + 16) / 32; }

static char text[LENGTH + 2];

int main(void)
{
    TIMER_CTRL = 0; TIMER_RELOAD = 0xFFFFFFFFu; TIMER_VALUE = 0xFFFFFFFFu; TIMER_CTRL = 1;

    /* Self-check: a loop of 2000 instructions. */
    uint32_t t0 = now();
    __asm volatile("movw r0, #250\n1: subs r0, #1\n bne 1b" ::: "r0", "cc");
    uint32_t t1 = now();
    uint32_t t2 = now();
    __asm volatile("movw r0, #1250\n1: subs r0, #1\n bne 1b" ::: "r0", "cc");
    uint32_t t3 = now();
    uint64_t loop_extra = instr(t3 - t2) - instr(t1 - t0);

    uint64_t t_mat = 0, t_act = 0, t_out = 0, t_smp = 0, t_tot = 0;
    int tok = 0; /* '\n': start symbol */
    for (int n = 0; n < LENGTH; n++) {
        uint32_t s0 = now();
        matrix_part(tok);
        uint32_t s1 = now();
        activations();
        uint32_t s2 = now();
        output_layer();
        uint32_t s3 = now();
        tok = softmax_sample();
        uint32_t s4 = now();
        t_mat += s1 - s0; t_act += s2 - s1; t_out += s3 - s2; t_smp += s4 - s3; t_tot += s4 - s0;
        text[n] = VOCAB[tok];
    }
    text[LENGTH] = '\n';
    text[LENGTH + 1] = 0;

    static char line[256];
    char *p;
    semihost_write0("# C reference step (arm-none-eabi-gcc, newlib expf/tanhf), text begins\n");
    semihost_write0(text);
    const uint64_t macs = 4ull * H * H + 4ull * H + (uint64_t)V * H;
    const uint64_t mat_macs = 4ull * H * H; /* the W_hh.h products (gather and bias are adds) */
    p = put_s(line, "# instructions per token: ");
    p = put_ratio(p, instr(t_tot), LENGTH);
    p = put_s(p, " mean over "); p = put_u(p, LENGTH); p = put_s(p, " tokens\n"); *p = 0;
    semihost_write0(line);
    p = put_s(line, "# instructions per MAC: ");
    p = put_ratio(p, instr(t_tot), (uint64_t)LENGTH * macs);
    p = put_s(p, " ("); p = put_u(p, (uint32_t)macs); p = put_s(p, " MACs per token)\n"); *p = 0;
    semihost_write0(line);
    p = put_s(line, "# phases per token: matrix ");
    p = put_ratio(p, instr(t_mat), LENGTH);
    p = put_s(p, " ("); p = put_ratio(p, instr(t_mat), (uint64_t)LENGTH * mat_macs);
    p = put_s(p, " per W_hh MAC), activations "); p = put_ratio(p, instr(t_act), LENGTH);
    p = put_s(p, ", output "); p = put_ratio(p, instr(t_out), LENGTH);
    p = put_s(p, " ("); p = put_ratio(p, instr(t_out), (uint64_t)LENGTH * V * H);
    p = put_s(p, " per MAC), softmax+sample "); p = put_ratio(p, instr(t_smp), LENGTH);
    p = put_s(p, "\n"); *p = 0;
    semihost_write0(line);
    p = put_s(line, "# icount self-check: 2000 more loop instructions measured as ");
    p = put_u(p, (uint32_t)loop_extra);
    p = put_s(p, loop_extra == 2000 ? " (exact)\n" : " (-icount is OFF?)\n"); *p = 0;
    semihost_write0(line);
    p = put_s(line, "# RAM: "); p = put_u(p, static_ram());
    p = put_s(p, " bytes static (.data + .bss), stack high-water mark "); p = put_u(p, stack_high_water());
    p = put_s(p, " bytes (painted)\n"); *p = 0;
    semihost_write0(line);
    return 0;
}
