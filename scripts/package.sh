#!/usr/bin/env bash
# Builds, signs and packages the driver and the Windows programs into target/package/:
#
#   afunixrs.sys        the driver, test-signed (embedded Authenticode signature)
#   afunixrs.inf        inf/afunixrs.inx stamped with version, date and architecture
#   afunixkm.sys        the KMDF build of the driver, test-signed; never run here (no KMDF
#                       runtime under Wine), checked by scripts/check-kmdf-image.sh
#   afunixkm.inf        inf/afunixkm.inx stamped likewise, with KMDF 1.33
#   afunixrs.cer        the test certificate, to import on a test-signing machine
#   afunixctl.exe       service status tool
#   usermode-test.exe   test programs
#   afunixwsp.dll       the Winsock base service provider
#
# Also builds the Wine shim DLL (target/wine-shim/), which is for the test prefix only.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
windows_ready "Windows builds and package" || exit 0
cd "$ROOT"

say "building the driver ($DRIVER_TRIPLE, rust-lld)"
cargo build --release -p afunix-drv --target "$DRIVER_TRIPLE"
say "building the KMDF driver ($DRIVER_TRIPLE, rust-lld, our own KMDF bindings and loader bootstrap)"
cargo build --release -p afunixkm --target "$DRIVER_TRIPLE"
say "building the Windows programs ($USER_TRIPLE)"
cargo build --release -p afunix -p usermode-test --bins --target "$USER_TRIPLE"
say "building the Winsock provider ($USER_TRIPLE)"
cargo build --release -p afunix-wsp --lib --target "$USER_TRIPLE"
say "checking the library for $DRIVER_TRIPLE too"
cargo check --release -p afunix -p usermode-test --bins --target "$DRIVER_TRIPLE"
cargo check --release -p afunix-wsp --lib --target "$DRIVER_TRIPLE"

say "building the Wine shim DLL"
mkdir -p "$TARGET_DIR/wine-shim"
x86_64-w64-mingw32-gcc -O2 -Wall -Wextra -Werror -shared \
    -o "$TARGET_DIR/wine-shim/bcryptprimitives.dll" \
    tools/wine-shim/bcryptprimitives.c tools/wine-shim/bcryptprimitives.def -ladvapi32

rm -rf "$PACKAGE_DIR"
mkdir -p "$PACKAGE_DIR"

# The INF: DriverVer is the commit's date (reproducible) and the workspace version.
version=$(sed -n '/^\[workspace.package\]/,/^\[/s/^version = "\(.*\)"/\1/p' Cargo.toml)
[ -n "$version" ] || die "no version in [workspace.package]"
date=$(git log -1 --format=%cd --date=format:%m/%d/%Y 2>/dev/null || date -u +%m/%d/%Y)
kmdf_version=$(sed -n 's/^pub const KMDF_LIBRARY_VERSION: &str = "\(.*\)";/\1/p' afunix-proto/src/names.rs)
[ -n "$kmdf_version" ] || die "no KMDF_LIBRARY_VERSION in afunix-proto/src/names.rs"
for inf in afunixrs afunixkm; do
    # The KMDF INF template lives with its crate, where the WDK packaging flow looks for it.
    inx=inf/$inf.inx
    [ "$inf" = afunixkm ] && inx=afunix-kmdf/afunixkm.inx
    say "stamping $inf.inf: DriverVer $date,$version.0, NTamd64"
    sed -e "s|\\\$DRIVERVER\\\$|$date,$version.0|g" -e 's|\$ARCH\$|amd64|g' \
        -e "s|\\\$KMDFVERSION\\\$|$kmdf_version|g" \
        "$inx" >"$PACKAGE_DIR/$inf.inf"
    if grep -n '\$[A-Z]*\$' "$PACKAGE_DIR/$inf.inf" | grep -v 'WINDOWS NT'; then
        die "$inf.inf still has unstamped fields"
    fi
done

# The test certificate: made once per checkout, kept out of git (.gitignore: /certs/).
certs=$ROOT/certs
if [ ! -f "$certs/afunixrs-test.key" ] || [ ! -f "$certs/afunixrs-test.crt" ]; then
    say "creating a test-signing certificate in certs/"
    mkdir -p "$certs"
    openssl req -x509 -newkey rsa:3072 -sha256 -days 3650 -nodes \
        -subj "/CN=afunix-rs test signing (not trusted anywhere)" \
        -addext "extendedKeyUsage=codeSigning" -addext "keyUsage=digitalSignature" \
        -keyout "$certs/afunixrs-test.key" -out "$certs/afunixrs-test.crt" 2>/dev/null
fi
openssl x509 -in "$certs/afunixrs-test.crt" -outform der -out "$PACKAGE_DIR/afunixrs.cer"

for image in afunixrs afunixkm; do
    say "signing $image.sys"
    osslsigncode sign -certs "$certs/afunixrs-test.crt" -key "$certs/afunixrs-test.key" \
        -h sha256 -n "afunix-rs AF_UNIX sockets (test build)" \
        -in "$TARGET_DIR/$DRIVER_TRIPLE/release/$image.dll" -out "$PACKAGE_DIR/$image.sys" >/dev/null
    say "verifying the signature"
    osslsigncode verify -CAfile "$certs/afunixrs-test.crt" -in "$PACKAGE_DIR/$image.sys" \
        >"$TARGET_DIR/signature-verify.log" 2>&1 || {
        cat "$TARGET_DIR/signature-verify.log"
        die "osslsigncode verify rejected $image.sys"
    }
    grep -E 'Signature verification: ok' "$TARGET_DIR/signature-verify.log"
done

# The packaged programs and provider without their DWARF debug information (release builds
# keep it for profiling; the unstripped files stay in the target directory). Symbols stay, so
# a panic's backtrace still names its functions.
for program in afunixctl.exe usermode-test.exe afunixwsp.dll; do
    x86_64-w64-mingw32-strip --strip-debug -o "$PACKAGE_DIR/$program" \
        "$TARGET_DIR/$USER_TRIPLE/release/$program"
done
exports=$(x86_64-w64-mingw32-objdump -p "$PACKAGE_DIR/afunixwsp.dll")
grep -qw WSPStartup <<<"$exports" || die "afunixwsp.dll does not export WSPStartup"

"$ROOT/scripts/check-driver-imports.sh" "$PACKAGE_DIR/afunixrs.sys"
"$ROOT/scripts/check-kmdf-image.sh" "$PACKAGE_DIR/afunixkm.sys" "$PACKAGE_DIR/afunixrs.sys"

say "package ready in ${PACKAGE_DIR#"$ROOT"/}:"
(cd "$PACKAGE_DIR" && ls -l)
