//! A product or check function with the wrong signature, or an unknown attribute argument, is a compile error that says what is expected; so is a typed port used against its manifest (`ports!`).

#[test]
fn wrong_signatures_fail_to_compile_with_a_clear_message() {
    let cases = trybuild::TestCases::new();
    cases.pass("tests/ui/good.rs");
    cases.compile_fail("tests/ui/shared_context.rs");
    cases.compile_fail("tests/ui/async_run.rs");
    cases.compile_fail("tests/ui/no_return.rs");
    cases.compile_fail("tests/ui/wrong_return.rs");
    cases.pass("tests/ui/good_checks.rs");
    cases.compile_fail("tests/ui/unknown_argument.rs");
    cases.compile_fail("tests/ui/checks_wrong_return.rs");
    cases.compile_fail("tests/ui/ports_undeclared_column.rs");
    cases.compile_fail("tests/ui/ports_wrong_type.rs");
    cases.compile_fail("tests/ui/ports_missing_manifest.rs");
}
