//! The serial console's line protocol: bytes in, commands out, no heap, no panic.
//!
//! Platform-independent (unit- and property-tested on the host); the
//! firmware feeds it the bytes it reads from the UART. A line ends at `\n`
//! or `\r` (so `\r\n` is one line and an empty one, which is ignored);
//! backspace and DEL erase the last byte. A line longer than
//! [`LINE_MAX`] bytes is dropped whole and reported once.
//!
//! | command | effect |
//! |---|---|
//! | `gen TEXT` | prime with TEXT (the rest of the line after one space, may be empty) and generate |
//! | `gen` | the same with the power-on prime (the build's `LSTM_PRIME`) |
//! | `temp T` | softmax temperature, `0` = greedy, else `0 < T <= 100` |
//! | `topk K` | keep the K most probable symbols, `0` = all, `K <= 1048576` |
//! | `topp P` | nucleus mass, `0 < P <= 1` |
//! | `seed S` | RNG seed, `0..=18446744073709551615` |
//! | `len N` | symbols per `gen`, `0..=100000000` |
//! | `stop C` | end a `gen` after symbol C (`\n`, `\t`, `\u{..}` …), `stop none` = never |
//! | `reset` | restart the random stream from the seed |
//! | `defaults` | the power-on settings (the build's `LSTM_*`), stream restarted |
//! | `info` | model, settings, flash and RAM |
//! | `help` | the commands |
//! | `quit` | end the emulator (QEMU only) |

use lstm_core::text;

/// Longest line accepted, in bytes (the line buffer's size).
pub const LINE_MAX: usize = 256;

/// One command, borrowing from the line it was parsed from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Command<'a> {
    /// Prime with the text (`None`: the power-on prime) and generate.
    Gen(Option<&'a str>),
    /// Set the temperature (0 = greedy).
    Temp(f32),
    /// Set top-k (0 = all).
    TopK(u32),
    /// Set top-p.
    TopP(f32),
    /// Set the seed.
    Seed(u64),
    /// Set the length.
    Len(u32),
    /// Set or clear the stop symbol.
    Stop(Option<char>),
    /// Restart the random stream.
    Reset,
    /// Back to the power-on settings.
    Defaults,
    /// Show model and settings.
    Info,
    /// Show the commands.
    Help,
    /// End the emulator.
    Quit,
}

/// Why a line is not a command; [`Error::message`] is the line shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// The line was longer than [`LINE_MAX`] bytes.
    TooLong,
    /// The line is not UTF-8.
    NotUtf8,
    /// The first word is no command.
    Unknown,
    /// The command needs a value and got none.
    MissingValue,
    /// The command takes no value and got one.
    UnexpectedValue,
    /// A value that is not a number of the expected kind, or out of range.
    BadValue(&'static str),
}

impl Error {
    /// A one-line explanation.
    pub fn message(&self) -> &'static str {
        match self {
            Error::TooLong => "line too long (at most 256 bytes); ignored",
            Error::NotUtf8 => "line is not valid UTF-8; ignored",
            Error::Unknown => "unknown command (type help)",
            Error::MissingValue => "this command needs a value (type help)",
            Error::UnexpectedValue => "this command takes no value",
            Error::BadValue(why) => why,
        }
    }
}

/// Splits a line into command words and parses it.
///
/// # Errors
/// [`Error`] saying what is wrong; never panics, whatever the bytes.
pub fn parse(line: &[u8]) -> Result<Command<'_>, Error> {
    let line = core::str::from_utf8(line).map_err(|_| Error::NotUtf8)?;
    let (word, value) = match line.split_once(' ') {
        Some((w, v)) => (w, Some(v)),
        None => (line, None),
    };
    // `gen` takes the rest of the line verbatim (spaces included, may be empty).
    if word == "gen" {
        return Ok(Command::Gen(value));
    }
    // Spaces only: `str::trim` would link a Unicode table.
    let value = value.map(|v| v.trim_matches(' '));
    let none = |v: Option<&str>, c: Command<'static>| match v {
        Some(v) if !v.is_empty() => Err(Error::UnexpectedValue),
        _ => Ok(c),
    };
    match word {
        "temp" => parse_temperature(needs(value)?).map(Command::Temp),
        "topk" => parse_count(needs(value)?, text::MAX_TOP_K, TOPK_RANGE).map(Command::TopK),
        "topp" => parse_top_p(needs(value)?).map(Command::TopP),
        "seed" => needs(value)?
            .parse::<u64>()
            .map(Command::Seed)
            .map_err(|_| {
                Error::BadValue("seed: expected a whole number in 0..=18446744073709551615")
            }),
        "len" => parse_count(needs(value)?, text::MAX_LENGTH, LEN_RANGE).map(Command::Len),
        "stop" => match needs(raw_value(line))? {
            "none" => Ok(Command::Stop(None)),
            v => text::parse_symbol(v)
                .map(|c| Command::Stop(Some(c)))
                .map_err(|_| Error::BadValue(STOP_RULE)),
        },
        "reset" => none(value, Command::Reset),
        "defaults" => none(value, Command::Defaults),
        "info" => none(value, Command::Info),
        "help" => none(value, Command::Help),
        "quit" => none(value, Command::Quit),
        _ => Err(Error::Unknown),
    }
}

const TOPK_RANGE: &str = "topk: expected a whole number in 0..=1048576 (0 keeps all)";
const LEN_RANGE: &str = "len: expected a whole number in 0..=100000000";
const STOP_RULE: &str =
    "stop: expected one symbol, an escape (\\n \\t \\r \\0 \\\\ \\u{hex}) or none";

/// A value that must be there and not empty.
fn needs(v: Option<&str>) -> Result<&str, Error> {
    v.filter(|v| !v.is_empty()).ok_or(Error::MissingValue)
}

/// The value of `stop`, not trimmed (a space is a symbol): the text after the first space.
fn raw_value(line: &str) -> Option<&str> {
    line.split_once(' ').map(|(_, v)| v)
}

fn parse_count(v: &str, max: usize, rule: &'static str) -> Result<u32, Error> {
    match v.parse::<u32>() {
        Ok(n) if n as usize <= max => Ok(n),
        _ => Err(Error::BadValue(rule)),
    }
}

/// `0` (greedy) or a number in `(0, 100]`.
pub fn parse_temperature(v: &str) -> Result<f32, Error> {
    const RULE: &str = "temp: expected 0 (greedy) or a number in (0, 100], at most 7 digits";
    match text::parse_decimal(v) {
        // `-0` is greedy too, written as 0.
        Ok(t) if (0.0..=text::MAX_TEMPERATURE).contains(&t) => Ok(t.abs()),
        _ => Err(Error::BadValue(RULE)),
    }
}

/// A number in `(0, 1]`.
pub fn parse_top_p(v: &str) -> Result<f32, Error> {
    const RULE: &str = "topp: expected a number in (0, 1], at most 7 digits";
    match text::parse_decimal(v) {
        Ok(p) if p > 0.0 && p <= 1.0 => Ok(p),
        _ => Err(Error::BadValue(RULE)),
    }
}

/// What [`LineBuffer::push`] made of a byte.
#[derive(Debug, PartialEq, Eq)]
pub enum Event<'a> {
    /// Nothing yet (the byte was stored, or erased one).
    Pending,
    /// A line ended; here it is (without its end).
    Line(&'a [u8]),
    /// A line ended that was longer than [`LINE_MAX`]: dropped.
    Overflow,
}

/// Collects bytes into lines, in a fixed [`LINE_MAX`]-byte buffer.
#[derive(Debug, Default)]
pub struct LineBuffer {
    buf: heapless::Vec<u8, LINE_MAX>,
    overflow: bool,
    /// The line just returned must be cleared before the next byte.
    done: bool,
}

impl LineBuffer {
    /// An empty buffer.
    pub const fn new() -> Self {
        LineBuffer {
            buf: heapless::Vec::new(),
            overflow: false,
            done: false,
        }
    }

    /// Takes one byte.
    pub fn push(&mut self, byte: u8) -> Event<'_> {
        if self.done {
            self.buf.clear();
            self.done = false;
        }
        match byte {
            b'\n' | b'\r' => {
                self.done = true;
                if core::mem::take(&mut self.overflow) {
                    Event::Overflow
                } else if self.buf.is_empty() {
                    Event::Pending
                } else {
                    Event::Line(&self.buf)
                }
            }
            0x08 | 0x7f => {
                self.buf.pop();
                Event::Pending
            }
            _ => {
                if self.buf.push(byte).is_err() {
                    self.overflow = true;
                }
                Event::Pending
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn lines(input: &[u8]) -> Vec<Result<Vec<u8>, ()>> {
        let mut lb = LineBuffer::new();
        let mut out = Vec::new();
        for &b in input {
            match lb.push(b) {
                Event::Pending => {}
                Event::Line(l) => out.push(Ok(l.to_vec())),
                Event::Overflow => out.push(Err(())),
            }
        }
        out
    }

    #[test]
    fn commands() {
        for (line, cmd) in [
            ("gen The Time ", Command::Gen(Some("The Time "))),
            ("gen", Command::Gen(None)),
            ("gen ", Command::Gen(Some(""))),
            ("temp 0.7", Command::Temp(0.7)),
            ("temp 0", Command::Temp(0.0)),
            ("temp 100", Command::Temp(100.0)),
            ("topk 5", Command::TopK(5)),
            ("topk 0", Command::TopK(0)),
            ("topp 0.9", Command::TopP(0.9)),
            ("topp 1", Command::TopP(1.0)),
            ("seed 18446744073709551615", Command::Seed(u64::MAX)),
            ("len 200", Command::Len(200)),
            ("len 100000000", Command::Len(100_000_000)),
            ("stop \\n", Command::Stop(Some('\n'))),
            ("stop  ", Command::Stop(Some(' '))),
            ("stop é", Command::Stop(Some('é'))),
            ("stop none", Command::Stop(None)),
            ("reset", Command::Reset),
            ("defaults", Command::Defaults),
            ("info", Command::Info),
            ("help", Command::Help),
            ("quit", Command::Quit),
        ] {
            assert_eq!(parse(line.as_bytes()), Ok(cmd), "{line:?}");
        }
    }

    #[test]
    fn bad_lines_give_one_error_each() {
        for (line, err) in [
            (&b"\xff\xfe"[..], Error::NotUtf8),
            (b"frobnicate", Error::Unknown),
            (b"temp", Error::MissingValue),
            (b"info now", Error::UnexpectedValue),
        ] {
            assert_eq!(parse(line), Err(err), "{line:?}");
        }
        for line in [
            "temp -1",
            "temp -0.5",
            "temp nan",
            "temp inf",
            "temp 100.5",
            "temp 0.12345678",
            "topp 0",
            "topp 1.5",
            "topp -0.1",
            "topk -1",
            "topk 1048577",
            "topk abc",
            "len 100000001",
            "len 4294967296",
            "seed 18446744073709551616",
            "seed -1",
            "stop ab",
            "stop \\q",
        ] {
            assert!(
                matches!(parse(line.as_bytes()), Err(Error::BadValue(_))),
                "{line:?}"
            );
        }
    }

    #[test]
    fn line_buffer_ends_erases_and_drops_long_lines() {
        assert_eq!(
            lines(b"help\r\ninfo\n\nab\x08c\n"),
            vec![
                Ok(b"help".to_vec()),
                Ok(b"info".to_vec()),
                Ok(b"ac".to_vec())
            ]
        );
        let mut long = vec![b'x'; LINE_MAX + 1];
        long.extend_from_slice(b"\nhelp\n");
        assert_eq!(lines(&long), vec![Err(()), Ok(b"help".to_vec())]);
        let mut exact = vec![b'x'; LINE_MAX];
        exact.push(b'\n');
        assert_eq!(lines(&exact), vec![Ok(vec![b'x'; LINE_MAX])]);
    }

    /// A command written as a person would type it.
    fn render(c: &Command<'_>) -> String {
        match c {
            Command::Gen(Some(p)) => format!("gen {p}"),
            Command::Gen(None) => "gen".into(),
            Command::Temp(t) => format!("temp {t}"),
            Command::TopK(k) => format!("topk {k}"),
            Command::TopP(p) => format!("topp {p}"),
            Command::Seed(s) => format!("seed {s}"),
            Command::Len(n) => format!("len {n}"),
            Command::Stop(None) => "stop none".into(),
            Command::Stop(Some(c)) => {
                let mut b = [0u8; 12];
                format!("stop {}", text::escape_symbol(*c, &mut b))
            }
            Command::Reset => "reset".into(),
            Command::Defaults => "defaults".into(),
            Command::Info => "info".into(),
            Command::Help => "help".into(),
            Command::Quit => "quit".into(),
        }
    }

    /// A decimal of at most 7 significant digits, as `m / 10^e`.
    fn decimal(max: u32) -> impl Strategy<Value = f32> {
        (1..=max, 0..7i32)
            .prop_map(|(m, e)| format!("{m}e-{e}").parse::<f32>().expect("a valid decimal"))
    }

    fn command() -> impl Strategy<Value = (Command<'static>, String)> {
        let prime = "[ -~]{0,40}".prop_map(|s| Box::leak(s.into_boxed_str()) as &'static str);
        prop_oneof![
            prime.prop_map(|p| Command::Gen(Some(p))),
            Just(Command::Gen(None)),
            decimal(1_000_000)
                .prop_filter("in (0, 100]", |t| *t <= 100.0)
                .prop_map(Command::Temp),
            Just(Command::Temp(0.0)),
            (0..=text::MAX_TOP_K as u32).prop_map(Command::TopK),
            decimal(1_000_000)
                .prop_filter("in (0, 1]", |p| *p <= 1.0)
                .prop_map(Command::TopP),
            any::<u64>().prop_map(Command::Seed),
            (0..=text::MAX_LENGTH as u32).prop_map(Command::Len),
            any::<char>().prop_map(|c| Command::Stop(Some(c))),
            Just(Command::Stop(None)),
            Just(Command::Reset),
            Just(Command::Info),
        ]
        .prop_map(|c| {
            let s = render(&c);
            (c, s)
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]

        /// Whatever the bytes, the line buffer and the parser return (no panic),
        /// and no line handed out is longer than the buffer.
        #[test]
        fn arbitrary_bytes_never_panic(input in proptest::collection::vec(any::<u8>(), 0..700)) {
            let mut lb = LineBuffer::new();
            for &b in &input {
                if let Event::Line(l) = lb.push(b) {
                    prop_assert!(l.len() <= LINE_MAX);
                    let _ = parse(l);
                }
            }
            let _ = parse(&input);
        }

        /// Arbitrary text after each command word: parses or errs, never panics.
        #[test]
        fn arbitrary_values_never_panic(
            word in prop_oneof![Just("temp"), Just("topk"), Just("topp"), Just("seed"),
                                Just("len"), Just("stop"), Just("gen"), Just("info")],
            value in "\\PC{0,30}",
        ) {
            let line = format!("{word} {value}");
            let _ = parse(line.as_bytes());
        }

        /// A valid command, typed and sent with `\r\n`, comes back as itself.
        #[test]
        fn valid_commands_round_trip((cmd, line) in command()) {
            let mut bytes = line.clone().into_bytes();
            bytes.extend_from_slice(b"\r\n");
            let got = lines(&bytes);
            prop_assume!(!line.is_empty() && line.len() <= LINE_MAX);
            // A prime may end in spaces; `gen` keeps them.
            prop_assert_eq!(got.len(), 1);
            let l = got[0].clone().expect("not too long");
            prop_assert_eq!(parse(&l), Ok(cmd));
        }

        /// The decimal parser gives `str::parse`'s f32 for what it accepts.
        #[test]
        fn decimals_match_core(m in 0u32..10_000_000, e in -12i32..12, point in 0usize..8) {
            let digits = m.to_string();
            let p = point.min(digits.len());
            let s = format!("{}.{}e{e}", &digits[..digits.len() - p], &digits[digits.len() - p..]);
            if let Ok(v) = text::parse_decimal(&s) {
                let core = s.parse::<f32>();
                prop_assert!(core.is_ok(), "{} accepted, but not by str::parse", s);
                prop_assert_eq!(v.to_bits(), core.expect("checked").to_bits(), "{}", s);
            }
        }
    }
}
