# Sourced by bench scripts: need_tools CMD... installs the Debian package of each missing command
# (the package is named like the command for every tool the benchmarks use).
need_tools() {
    local sudo="" tool
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    for tool in "$@"; do
        command -v "$tool" >/dev/null ||
            { $sudo apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive $sudo apt-get install \
                -y -q --no-install-recommends "$tool" >&2; }
    done
}
