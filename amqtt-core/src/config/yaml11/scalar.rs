//! The YAML 1.1 booleans and numbers that YAML 1.2 (serde_yaml) reads as strings.

/// A YAML 1.1 boolean: `true`/`false`, `yes`/`no`, `on`/`off` and `y`/`n`, each in lower case,
/// capitalised or upper case; `None` for anything else.
pub(super) fn yaml11_bool(text: &str) -> Option<bool> {
    match text {
        "true" | "True" | "TRUE" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" | "y" | "Y" => {
            Some(true)
        }
        "false" | "False" | "FALSE" | "no" | "No" | "NO" | "off" | "Off" | "OFF" | "n" | "N" => {
            Some(false)
        }
        _ => None,
    }
}

/// A number read from a YAML 1.1 scalar.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Number {
    /// A non-negative integer.
    Unsigned(u64),
    /// A negative integer.
    Signed(i64),
    /// A number with a fraction.
    Float(f64),
}

/// A number in a YAML 1.1 form that YAML 1.2 reads as a string, as aMQTT (PyYAML) reads it:
/// digits grouped with `_` (`1_000`, `0x_ff`, `1_000.5`) and base 60 (`1:30` is 90, `1:30.5`
/// is 90.5). `Ok(None)` for any other text. A leading zero (`0755`), which YAML 1.1 reads as
/// octal and YAML 1.2 as a string, is an error that says what to write instead.
pub(super) fn yaml11_number(text: &str) -> Result<Option<Number>, String> {
    let (negative, body) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let digits: String = body.chars().filter(|&c| c != '_').collect();
    let leading_zero =
        digits.len() > 1 && digits.starts_with('0') && digits.bytes().all(|b| b.is_ascii_digit());
    if !(leading_zero || body.contains(['_', ':'])) || digits.is_empty() {
        return Ok(None);
    }
    let magnitude = if leading_zero {
        return Err(octal_advice(text, negative, &digits));
    } else if digits.contains(':') {
        sexagesimal(&digits)
    } else if let Some(hex) = digits.strip_prefix("0x") {
        u64::from_str_radix(hex, 16).ok().map(Number::Unsigned)
    } else if let Some(binary) = digits.strip_prefix("0b") {
        u64::from_str_radix(binary, 2).ok().map(Number::Unsigned)
    } else {
        decimal(&digits)
    };
    Ok(magnitude.and_then(|n| with_sign(n, negative)))
}

/// What to write instead of a number with a leading zero.
fn octal_advice(text: &str, negative: bool, digits: &str) -> String {
    let sign = if negative { "-" } else { "" };
    let decimal = digits.trim_start_matches('0');
    let decimal = if decimal.is_empty() { "0" } else { decimal };
    match u64::from_str_radix(digits, 8) {
        Ok(octal) => format!(
            "`{text}` has a leading zero: aMQTT (YAML 1.1) reads it as the octal number \
             {sign}{octal}, YAML 1.2 as a string; write {sign}{octal} (or {sign}0o{decimal}) for \
             the octal number, or {sign}{decimal} for the decimal one"
        ),
        Err(_) => format!("`{text}` has a leading zero: write {sign}{decimal}"),
    }
}

/// `digits` (no sign, no `_`) as a decimal integer or a YAML 1.1 float (which has a `.`).
fn decimal(digits: &str) -> Option<Number> {
    if digits.bytes().all(|b| b.is_ascii_digit()) {
        return digits.parse().ok().map(Number::Unsigned);
    }
    let float_chars = digits
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'));
    if float_chars && digits.contains('.') && digits.starts_with(|c: char| c != 'e' && c != 'E') {
        return digits.parse().ok().map(Number::Float);
    }
    None
}

/// Base 60 (`1:30` = 90, `1:02:03` = 3723, `1:30.5` = 90.5): the first part any number of
/// digits, each later part 0 to 59, the last one with an optional fraction.
fn sexagesimal(digits: &str) -> Option<Number> {
    let mut parts = digits.split(':');
    let first = parts.next().filter(|p| is_digits(p))?;
    let mut whole: u64 = first.parse().ok()?;
    let mut fraction = None;
    let mut parts = parts.peekable();
    while let Some(part) = parts.next() {
        let (sixty, frac) = match part.split_once('.') {
            Some((int, frac))
                if parts.peek().is_none() && frac.bytes().all(|b| b.is_ascii_digit()) =>
            {
                (int, Some(frac))
            }
            Some(_) => return None,
            None => (part, None),
        };
        if !is_digits(sixty) || sixty.len() > 2 {
            return None;
        }
        let sixty: u64 = sixty.parse().ok()?;
        if sixty >= 60 {
            return None;
        }
        whole = whole.checked_mul(60)?.checked_add(sixty)?;
        fraction = frac;
    }
    match fraction {
        None => Some(Number::Unsigned(whole)),
        Some(frac) => format!("0.{frac}0")
            .parse::<f64>()
            .ok()
            .map(|f| Number::Float(whole as f64 + f)),
    }
}

fn is_digits(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())
}

fn with_sign(n: Number, negative: bool) -> Option<Number> {
    if !negative {
        return Some(n);
    }
    match n {
        Number::Unsigned(0) => Some(n),
        Number::Unsigned(u) => 0i64.checked_sub_unsigned(u).map(Number::Signed),
        Number::Float(f) => Some(Number::Float(-f)),
        Number::Signed(_) => None,
    }
}
