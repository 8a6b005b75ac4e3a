use std::collections::BTreeMap;

use serde::Deserialize;

use super::scalar::{Number, yaml11_number};
use super::yaml11;

/// Every spelling YAML 1.1 reads as a boolean, with the value it stands for.
pub(crate) const SPELLINGS: [(&str, bool); 22] = [
    ("true", true),
    ("True", true),
    ("TRUE", true),
    ("yes", true),
    ("Yes", true),
    ("YES", true),
    ("on", true),
    ("On", true),
    ("ON", true),
    ("y", true),
    ("Y", true),
    ("false", false),
    ("False", false),
    ("FALSE", false),
    ("no", false),
    ("No", false),
    ("NO", false),
    ("off", false),
    ("Off", false),
    ("OFF", false),
    ("n", false),
    ("N", false),
];

#[derive(Debug, Deserialize, PartialEq)]
struct Nested {
    flag: bool,
    maybe: Option<bool>,
    name: String,
    list: Vec<bool>,
    by_name: BTreeMap<String, bool>,
    choice: Choice,
    count: u32,
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case")]
enum Choice {
    Plain,
    Tuned { fast: bool },
}

fn read<T: for<'de> Deserialize<'de>>(yaml: &str) -> Result<T, serde_yaml::Error> {
    yaml11(serde_yaml::Deserializer::from_str(yaml))
}

#[test]
fn every_spelling_is_a_boolean_at_every_depth_and_strings_stay_strings() {
    for (spelling, value) in SPELLINGS {
        let yaml = |name: &str| {
            format!(
                "flag: {spelling}\nmaybe: {spelling}\nname: {name}\nlist: [{spelling}]\n\
                 by_name: {{a: {spelling}}}\nchoice: !tuned {{fast: {spelling}}}\ncount: 1_000\n"
            )
        };
        let expected = Nested {
            flag: value,
            maybe: Some(value),
            name: spelling.to_owned(),
            list: vec![value],
            by_name: BTreeMap::from([("a".to_owned(), value)]),
            choice: Choice::Tuned { fast: value },
            count: 1000,
        };
        assert_eq!(read::<Nested>(&yaml(spelling)).expect(spelling), expected);
        // The same through a `serde_yaml::Value`, as plugin sections are read (a Value already
        // holds `true` as a boolean, so the string field is quoted there).
        let value_form: serde_yaml::Value =
            serde_yaml::from_str(&yaml(&format!("'{spelling}'"))).expect("YAML");
        assert_eq!(yaml11::<Nested, _>(value_form).expect(spelling), expected);
    }
}

#[test]
fn an_empty_or_null_option_is_none_and_a_unit_variant_still_reads() {
    for null in ["", "~", "null"] {
        let yaml = format!(
            "flag: yes\nmaybe: {null}\nname: x\nlist: []\nby_name: {{}}\nchoice: plain\ncount: 1\n"
        );
        let read = read::<Nested>(&yaml).expect(&yaml);
        assert_eq!((read.maybe, read.choice), (None, Choice::Plain));
    }
}

#[test]
fn a_non_boolean_keeps_serdes_message_and_line() {
    let err = read::<Nested>("flag: maybe\n").expect_err("not a boolean");
    assert_eq!(
        err.to_string(),
        "flag: invalid type: string \"maybe\", expected a boolean at line 1 column 7"
    );
    let err = read::<Nested>("flag: 1\n").expect_err("not a boolean");
    assert!(err.to_string().contains("expected a boolean"), "{err}");
}

#[test]
fn yaml_1_1_numbers_read_as_amqtt_reads_them() {
    let cases = [
        ("1_000", Number::Unsigned(1000)),
        ("-1_000", Number::Signed(-1000)),
        ("+1_000", Number::Unsigned(1000)),
        ("0x_ff", Number::Unsigned(255)),
        ("0b1_01", Number::Unsigned(5)),
        ("1_0.5", Number::Float(10.5)),
        ("1:30", Number::Unsigned(90)),
        ("1:02:03", Number::Unsigned(3723)),
        ("1:30.5", Number::Float(90.5)),
        ("-1:30", Number::Signed(-90)),
    ];
    for (text, number) in cases {
        assert_eq!(yaml11_number(text), Ok(Some(number)), "{text}");
    }
    // What YAML 1.2 reads alike, or is no number in either reading, is left to serde_yaml.
    for text in [
        "1000", "1.5", "abc", "1:60", "a_b", "1:3:", "", "-", "1.2.3_4", "e_1",
    ] {
        assert_eq!(yaml11_number(text), Ok(None), "{text}");
    }
}

#[test]
fn a_leading_zero_says_what_to_write() {
    let message = yaml11_number("0755").expect_err("ambiguous");
    assert!(message.contains("octal number 493"), "{message}");
    assert!(message.contains("write 493 (or 0o755)"), "{message}");
    assert!(message.contains("or 755 for the decimal one"), "{message}");
    let message = yaml11_number("-010").expect_err("ambiguous");
    assert!(message.contains("write -8 (or -0o10)"), "{message}");
    assert_eq!(
        yaml11_number("09"),
        Err("`09` has a leading zero: write 9".to_owned())
    );
    let err = read::<BTreeMap<String, u32>>("count: 0755\n").expect_err("ambiguous");
    assert!(
        err.to_string()
            .starts_with("count: `0755` has a leading zero"),
        "{err}"
    );
    assert!(err.to_string().ends_with("at line 1 column 8"), "{err}");
}

#[test]
fn numbers_reach_every_numeric_type() {
    #[derive(Debug, Deserialize)]
    struct Numbers {
        small: u8,
        signed: i32,
        seconds: f64,
        big: u64,
    }
    let n: Numbers =
        read("small: 2_5\nsigned: -1_000\nseconds: 1:30\nbig: 1_000_000\n").expect("numbers");
    assert_eq!(
        (n.small, n.signed, n.seconds, n.big),
        (25, -1000, 90.0, 1_000_000)
    );
    let err = read::<Numbers>("small: 1_000\n").expect_err("out of range");
    assert!(err.to_string().contains("expected u8"), "{err}");
}
