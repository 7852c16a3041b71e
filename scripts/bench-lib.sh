# Shared by the bench scripts (sourced, after `cd` to the repository root).

# need_cmd CMD PACKAGE...: PACKAGEs are installed when CMD is missing.
# need_file PATH PACKAGE...: the same for a file.
# install_needed: installs what was asked for (apt-get), then builds the release binary
# into $OC.
need=()
need_cmd() { command -v "$1" >/dev/null 2>&1 || need+=("${@:2}"); }
need_file() { [ -e "$1" ] || need+=("${@:2}"); }
install_needed() {
    if [ ${#need[@]} -gt 0 ]; then
        apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}"
    fi
    cargo build --release --quiet
    OC=$PWD/target/release/openclaw
}

# A free loopback port.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
