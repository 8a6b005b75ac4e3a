//! Compile-fail tests: each file under `tests/ui/` pins the errors `#[plugin]` reports, and that
//! they are the only errors (regenerate with `TRYBUILD=overwrite cargo test -p amqtt-macros`).

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");
}
