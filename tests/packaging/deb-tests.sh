#!/usr/bin/env bash
# The Debian packages and the systemd unit, checked the way an operator's machine would see them.
#
#   deb-tests.sh build           cpack in the build tree -> $SIDEBAND_DEB_DIR/*.deb (ctest fixture)
#   deb-tests.sh contents        dpkg-deb -I / -c: control fields, conffiles, scripts, files, modes
#   deb-tests.sh install_root    dpkg --root into a scratch root running the maintainer scripts:
#                                user, ownership, every path the unit names, upgrade keeps edited
#                                config, purge keeps the database
#   deb-tests.sh unit_verify     systemd-analyze verify on the installed unit: clean
#   deb-tests.sh unit_security   systemd-analyze security --offline=yes: exposure <= 2.0
#
# Environment (set by tests/packaging/CMakeLists.txt): SIDEBAND_BUILD_DIR, SIDEBAND_DEB_DIR,
# SIDEBAND_SCRATCH_DIR, SIDEBAND_SDK_PACKAGED (1 when sdk/ installs in COMPONENT sdk),
# SIDEBAND_VERSION. Nothing is skipped silently: a missing tool is a failure that names its package.
set -euo pipefail

: "${SIDEBAND_BUILD_DIR:?}" "${SIDEBAND_DEB_DIR:?}" "${SIDEBAND_SCRATCH_DIR:?}" "${SIDEBAND_VERSION:?}"
SDK_PACKAGED=${SIDEBAND_SDK_PACKAGED:-0}
UNIT=sideband-host.service
MAX_EXPOSURE=2.0

failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
ok() { echo "ok: $*"; }
die() { echo "FATAL: $*" >&2; exit 1; }
finish() {
  if ((failures)); then echo "$failures check(s) failed" >&2; exit 1; fi
  echo "all checks passed"
}
need() { # tool package
  command -v "$1" >/dev/null 2>&1 || die "'$1' not found: install the Debian package '$2' (tools/install-deps.sh lists it)"
}
need_root() {
  [ "$(id -u)" -eq 0 ] || die "must run as root: dpkg --root sets real file ownership (run-tests.sh runs as root)"
}

host_deb() {
  local f
  f=$(ls "$SIDEBAND_DEB_DIR"/sideband-host_*.deb 2>/dev/null | head -n1) || true
  [ -n "$f" ] || die "no sideband-host_*.deb in $SIDEBAND_DEB_DIR: did packaging.deb_build pass?"
  echo "$f"
}
dev_deb() { ls "$SIDEBAND_DEB_DIR"/sideband-dev_*.deb 2>/dev/null | head -n1 || true; }

# A value from a unit file: every `Key=` line's value, one per line.
unit_values() { sed -n "s/^$2=//p" "$1"; }

# ---------------------------------------------------------------------------------------------
cmd_build() {
  need cpack cmake
  need dpkg-shlibdeps dpkg-dev
  need file file
  need fakeroot fakeroot
  rm -rf "$SIDEBAND_DEB_DIR"
  mkdir -p "$SIDEBAND_DEB_DIR"
  # CPack first builds the `preinstall` target, i.e. anything out of date, sideband-host included.
  (cd "$SIDEBAND_BUILD_DIR" && cpack -G DEB -B "$SIDEBAND_DEB_DIR" --config CPackConfig.cmake)
  ls -l "$SIDEBAND_DEB_DIR"/*.deb
  host_deb >/dev/null
  if [ "$SDK_PACKAGED" = 1 ] && [ -z "$(dev_deb)" ]; then fail "sdk/ installs in COMPONENT sdk but no sideband-dev_*.deb"; fi
  finish
}

# ---------------------------------------------------------------------------------------------
expect_field() { # deb field expected-substring
  local value
  value=$(dpkg-deb -f "$1" "$2")
  if [[ "$value" == *"$3"* ]]; then ok "$2: $value"; else fail "$(basename "$1") $2 is '$value', expected '$3'"; fi
}

expect_entry() { # listing mode path  (listing: `dpkg-deb -c` output)
  local line
  line=$(awk -v p="$3" '$6 == p' <<<"$1")
  if [ -z "$line" ]; then fail "missing $3"; return; fi
  local mode owner
  mode=$(awk '{print $1}' <<<"$line")
  owner=$(awk '{print $2}' <<<"$line")
  [ "$mode" = "$2" ] || fail "$3 has mode $mode, expected $2"
  [ "$owner" = root/root ] || fail "$3 is owned by $owner, expected root/root"
  if [ "$mode" = "$2" ] && [ "$owner" = root/root ]; then ok "$2 root/root $3"; fi
}

cmd_contents() {
  need dpkg-deb dpkg
  local deb listing ctrl files expected
  deb=$(host_deb)
  echo "== $(basename "$deb")"
  dpkg-deb -I "$deb"
  expect_field "$deb" Package sideband-host
  expect_field "$deb" Version "$SIDEBAND_VERSION-1"
  expect_field "$deb" Architecture "$(dpkg --print-architecture)"
  expect_field "$deb" Section net
  expect_field "$deb" Depends "libsystemd0"      # sd_notify, found by dpkg-shlibdeps
  expect_field "$deb" Depends "libpoconetssl80"
  expect_field "$deb" Depends "adduser | passwd" # maintainer scripts

  ctrl=$(dpkg-deb --ctrl-tarfile "$deb" | tar -tvf -)
  for script in postinst prerm postrm; do
    if grep -qE "^-rwxr-xr-x .* \./$script\$" <<<"$ctrl"; then ok "control: $script (0755)"; else fail "control: $script missing or not 0755"; fi
  done
  # Conffiles: dpkg never overwrites an administrator's edits to these on upgrade.
  local conffiles
  conffiles=$(dpkg-deb -I "$deb" conffiles | sort)
  if [ "$conffiles" = "$(printf '%s\n' /etc/sideband/sideband.conf /etc/sideband/sideband.env)" ]; then
    ok "conffiles: $(tr '\n' ' ' <<<"$conffiles")"
  else
    fail "conffiles are '$conffiles'"
  fi

  listing=$(dpkg-deb -c "$deb")
  echo "$listing"
  expect_entry "$listing" -rwxr-xr-x ./usr/bin/sideband-host
  expect_entry "$listing" -rwxr-xr-x ./usr/libexec/sideband/sideband-plugin-runner
  expect_entry "$listing" -rw-r--r-- ./lib/systemd/system/$UNIT
  expect_entry "$listing" -rw-r--r-- ./etc/sideband/sideband.conf
  expect_entry "$listing" -rw-r----- ./etc/sideband/sideband.env
  expect_entry "$listing" drwx------ ./etc/sideband/tls/
  expect_entry "$listing" drwxr-xr-x ./var/lib/sideband/
  expect_entry "$listing" drwxr-xr-x ./var/lib/sideband/plugins/
  expect_entry "$listing" -rw-r--r-- ./usr/share/doc/sideband-host/operations.md
  # Nothing else: no stray build artefacts, no SDK files in the host package.
  files=$(awk '$1 !~ /^d/ {print $6}' <<<"$listing" | sort)
  expected=$(printf '%s\n' ./usr/bin/sideband-host ./usr/libexec/sideband/sideband-plugin-runner ./lib/systemd/system/$UNIT ./etc/sideband/sideband.conf \
    ./etc/sideband/sideband.env ./usr/share/doc/sideband-host/operations.md | sort)
  if [ "$files" = "$expected" ]; then ok "no unexpected files"; else fail "files differ from the expected list:"$'\n'"$(diff <(echo "$expected") <(echo "$files") || true)"; fi
  # The packaged unit is the one in the source tree.
  if diff -u "$(dirname "$0")/../../packaging/systemd/$UNIT" <(dpkg-deb --fsys-tarfile "$deb" | tar -xOf - ./lib/systemd/system/$UNIT) >/dev/null; then
    ok "packaged unit matches packaging/systemd/$UNIT"
  else
    fail "packaged unit differs from packaging/systemd/$UNIT (stale build tree?)"
  fi

  echo
  local dev
  dev=$(dev_deb)
  if [ "$SDK_PACKAGED" != 1 ]; then
    echo "NOTE: NOT CHECKED: sdk/ has no install(... COMPONENT sdk) rules yet, so there is no sideband-dev package."
  elif [ -z "$dev" ]; then
    fail "no sideband-dev_*.deb although sdk/ installs in COMPONENT sdk"
  else
    echo "== $(basename "$dev")"
    dpkg-deb -I "$dev"
    expect_field "$dev" Package sideband-dev
    expect_field "$dev" Section libdevel
    listing=$(dpkg-deb -c "$dev")
    echo "$listing"
    files=$(awk '$1 !~ /^d/ {print $6}' <<<"$listing")
    grep -qE '^\./usr/include/sideband/.*\.h$' <<<"$files" && ok "sdk: headers in /usr/include/sideband" || fail "sdk: no headers under /usr/include/sideband"
    grep -qE '^\./usr/lib/(.*/)?cmake/SidebandSDK/SidebandSDKConfig\.cmake$' <<<"$files" && ok "sdk: CMake package SidebandSDKConfig.cmake" || fail "sdk: no SidebandSDKConfig.cmake under /usr/lib/.../cmake/SidebandSDK"
    grep -qiE '^\./usr/include/sideband/.*mock.*\.h$' <<<"$files" && ok "sdk: mocks header" || fail "sdk: no mock header under /usr/include/sideband"
    if grep -q 'usr/bin/sideband-host' <<<"$files"; then fail "sdk package contains the host binary"; fi
  fi
  finish
}

# ---------------------------------------------------------------------------------------------
# A scratch root that dpkg can install into: its own database and account files (root only).
make_root() {
  local root=$1
  rm -rf "$root"
  mkdir -p "$root/var/lib/dpkg/info" "$root/var/lib/dpkg/updates" "$root/etc"
  touch "$root/var/lib/dpkg/status"
  echo 'root:x:0:0:root:/root:/bin/bash' >"$root/etc/passwd"
  echo 'root:x:0:' >"$root/etc/group"
  echo 'root:*:19000:0:99999:7:::' >"$root/etc/shadow"
  echo 'root:*::' >"$root/etc/gshadow"
  chmod 0640 "$root/etc/shadow" "$root/etc/gshadow"
}

# dpkg --root with the maintainer scripts run outside a chroot, honouring DPKG_ROOT (the scratch
# root has no shell of its own). Dependencies are the host system's, not the scratch root's.
scratch_dpkg() { # root args...
  local root=$1 out rc=0
  shift
  out=$(dpkg --root="$root" --force-script-chrootless --force-depends --log=/dev/null "$@" 2>&1) || rc=$?
  grep -vE '^ +(sideband-host depends on|Package .* is not installed)|dependency problems, but|^$' <<<"$out" || true
  return "$rc"
}

stat_is() { # path "uid gid mode" what
  local actual
  actual=$(stat -c '%u %g %a' "$1" 2>/dev/null || echo missing)
  if [ "$actual" = "$2" ]; then ok "$3: $1 is $2 (uid gid mode)"; else fail "$3: $1 is '$actual', expected '$2'"; fi
}

cmd_install_root() {
  need dpkg dpkg
  need_root
  local deb root unit uid gid
  deb=$(host_deb)
  root="$SIDEBAND_SCRATCH_DIR/install"
  make_root "$root"
  scratch_dpkg "$root" -i "$deb" || fail "dpkg -i into the scratch root failed"
  dpkg-query --admindir="$root/var/lib/dpkg" -W -f='${Status}\n' sideband-host | grep -q 'install ok installed' &&
    ok "sideband-host is installed and configured in the scratch root" || fail "sideband-host not configured"

  # The system user.
  local account
  account=$(grep '^sideband:' "$root/etc/passwd" || true)
  [ -n "$account" ] || die "postinst did not create the sideband user"
  uid=$(cut -d: -f3 <<<"$account")
  gid=$(awk -F: '$1 == "sideband" {print $3}' "$root/etc/group")
  [ -n "$gid" ] || fail "postinst did not create the sideband group"
  [ "$(cut -d: -f4 <<<"$account")" = "$gid" ] && ok "user sideband ($uid) has primary group sideband ($gid)" || fail "sideband's primary group is not sideband"
  ((uid > 0 && uid < 1000)) && ok "sideband is a system user" || fail "sideband uid $uid is not a system uid"
  [ "$(cut -d: -f7 <<<"$account")" = /usr/sbin/nologin ] && ok "sideband cannot log in" || fail "sideband's shell: $account"

  # Every path the unit names exists, with the owner and mode it needs.
  unit="$root/lib/systemd/system/$UNIT"
  [ -f "$unit" ] || die "unit not installed at /lib/systemd/system/$UNIT"
  [ "$(unit_values "$unit" User)" = sideband ] && ok "unit runs as User=sideband" || fail "unit User= is not sideband"
  local exec binary config
  exec=$(unit_values "$unit" ExecStart)
  binary=$(awk '{print $1}' <<<"$exec")
  config=$(sed -n 's/.*--config \([^ ]*\).*/\1/p' <<<"$exec")
  [ -x "$root$binary" ] && ok "ExecStart binary $binary" || fail "ExecStart binary $binary missing in the package"
  [ -n "$config" ] && [ -f "$root$config" ] && ok "--config $config" || fail "--config file '$config' missing"
  "$root$binary" --help >/dev/null && ok "the installed binary runs (--help)" || fail "$binary --help failed"
  local envfile
  for envfile in $(unit_values "$unit" EnvironmentFile); do
    stat_is "$root${envfile#-}" "0 0 640" "EnvironmentFile"
  done
  local cred path
  for cred in $(unit_values "$unit" LoadCredential); do
    path=${cred#*:}
    stat_is "$root$path" "0 0 700" "LoadCredential=$cred"
  done
  for path in $(unit_values "$unit" ReadWritePaths) $(unit_values "$unit" WorkingDirectory); do
    [ -d "$root${path#-}" ] && ok "directory $path exists" || fail "directory $path named by the unit is missing"
  done
  stat_is "$root/var/lib/sideband" "0 $gid 1770" "state directory (service creates its DB, cannot replace plugins/)"
  stat_is "$root/var/lib/sideband/plugins" "0 $gid 750" "plugin directory (service reads, cannot write)"

  # The default config points into those directories, and TLS at what LoadCredential provides.
  local db plugins rw
  db=$(sed -n 's/^SIDEBAND_DB *= *sqlite://p' "$root$config")
  plugins=$(sed -n 's/^SIDEBAND_PLUGIN_DIR *= *//p' "$root$config")
  rw=$(unit_values "$unit" ReadWritePaths)
  [ -d "$root$(dirname "$db")" ] && [[ "$db" == "$rw"/* ]] && ok "SIDEBAND_DB $db is inside ReadWritePaths=$rw" || fail "SIDEBAND_DB '$db' is not inside ReadWritePaths=$rw"
  [ -d "$root$plugins" ] && [[ "$plugins" == "$rw"/* ]] && ok "SIDEBAND_PLUGIN_DIR $plugins is inside ReadWritePaths=$rw" || fail "SIDEBAND_PLUGIN_DIR '$plugins' missing or outside $rw"
  local credid
  credid=$(unit_values "$unit" LoadCredential | head -n1 | cut -d: -f1)
  grep -q "^#\?SIDEBAND_TLS_CERT = /run/credentials/$UNIT/${credid}_cert.pem$" "$root$config" &&
    grep -q "^#\?SIDEBAND_TLS_KEY = /run/credentials/$UNIT/${credid}_key.pem$" "$root$config" &&
    ok "sideband.conf's TLS paths match LoadCredential=$credid:..." || fail "sideband.conf's TLS paths do not match LoadCredential id '$credid'"
  grep -qE '^[^#]*(OPENAI_WEBHOOK_SECRET|OPENAI_API_KEY)' "$root$config" && fail "sideband.conf sets a secret" || ok "sideband.conf holds no secret"

  # Upgrade 1: same package again, administrator's edits in place: kept without any question.
  echo 'SIDEBAND_LOG_LEVEL = debug # local edit' >>"$root/etc/sideband/sideband.conf"
  echo 'OPENAI_WEBHOOK_SECRET="whsec_local"' >>"$root/etc/sideband/sideband.env"
  chmod 1750 "$root/var/lib/sideband/plugins"
  scratch_dpkg "$root" -i "$deb" </dev/null || fail "reinstall failed"
  grep -q 'local edit' "$root/etc/sideband/sideband.conf" && ok "reinstall kept the edited sideband.conf" || fail "reinstall overwrote sideband.conf"
  grep -q 'whsec_local' "$root/etc/sideband/sideband.env" && ok "reinstall kept the edited sideband.env" || fail "reinstall overwrote sideband.env"
  stat_is "$root/var/lib/sideband/plugins" "0 $gid 1750" "upgrade leaves the administrator's directory modes"
  [ "$(grep -c '^sideband:' "$root/etc/passwd")" = 1 ] && ok "upgrade did not add a second user" || fail "duplicate sideband user"

  # Upgrade 2: a newer package whose default config changed too. Unattended (--force-confold),
  # the administrator's file stays and the new default lands next to it as .dpkg-dist.
  local v2dir v2
  v2dir="$SIDEBAND_SCRATCH_DIR/v2"
  rm -rf "$v2dir"
  mkdir -p "$v2dir"
  dpkg-deb -R "$deb" "$v2dir/pkg"
  echo '# a new default in version 2' >>"$v2dir/pkg/etc/sideband/sideband.conf"
  sed -i "s/^Version: .*/Version: $SIDEBAND_VERSION-99/" "$v2dir/pkg/DEBIAN/control"
  (cd "$v2dir/pkg" && find . -type f ! -path './DEBIAN/*' -printf '%P\0' | xargs -0 md5sum >DEBIAN/md5sums)
  v2="$v2dir/sideband-host_v2.deb"
  dpkg-deb --root-owner-group -b "$v2dir/pkg" "$v2" >/dev/null
  scratch_dpkg "$root" --force-confold -i "$v2" </dev/null || fail "upgrade to the changed package failed"
  dpkg-query --admindir="$root/var/lib/dpkg" -W -f='${Version}' sideband-host | grep -q -- '-99$' && ok "upgraded to $SIDEBAND_VERSION-99" || fail "upgrade did not happen"
  grep -q 'local edit' "$root/etc/sideband/sideband.conf" && ok "upgrade kept the edited sideband.conf" || fail "upgrade overwrote the edited sideband.conf"
  [ -f "$root/etc/sideband/sideband.conf.dpkg-dist" ] && ok "the new default is sideband.conf.dpkg-dist" || fail "no sideband.conf.dpkg-dist"
  stat_is "$root/etc/sideband/sideband.env" "0 0 640" "sideband.env after upgrade"

  # Purge: configuration goes, the call database stays (and so does the user, as Debian does).
  touch "$root/var/lib/sideband/sideband.db"
  scratch_dpkg "$root" -P sideband-host || fail "purge failed"
  [ ! -e "$root/usr/bin/sideband-host" ] && [ ! -e "$root/etc/sideband/sideband.conf" ] && ok "purge removed the binary and the config" || fail "purge left files behind"
  [ -f "$root/var/lib/sideband/sideband.db" ] && ok "purge kept /var/lib/sideband/sideband.db" || fail "purge deleted the database"
  finish
}

# ---------------------------------------------------------------------------------------------
# The package's files plus the system's own units (sysinit.target, ...), which verify resolves.
unit_root() {
  local root=$1
  rm -rf "$root"
  mkdir -p "$root"
  dpkg -x "$(host_deb)" "$root"
  mkdir -p "$root/lib/systemd/system"
  local dir
  for dir in /lib/systemd/system /usr/lib/systemd/system; do
    [ -d "$dir" ] && cp -an "$dir/." "$root/lib/systemd/system/"
  done
  [ -f "$root/lib/systemd/system/sysinit.target" ] || die "no systemd units on this machine: install the Debian package 'systemd'"
  # Commands the unit borrows from the base system (ExecReload=/bin/kill): copied from this
  # machine. Ours (ExecStart=/usr/bin/sideband-host) must already be there, from the package.
  local exe
  for exe in $(sed -n 's/^Exec\(Reload\|StartPre\|StartPost\|StopPost\)=[-@:+!]*\([^ ]*\).*/\2/p' "$root/lib/systemd/system/$UNIT"); do
    [ -e "$root$exe" ] || { [ -e "$exe" ] && cp --parents -L "$exe" "$root/"; }
  done
}

cmd_unit_verify() {
  need systemd-analyze systemd
  need dpkg dpkg
  local root out rc
  root="$SIDEBAND_SCRATCH_DIR/verify"
  unit_root "$root"
  # --root: the unit is checked as installed, ExecStart= against the packaged binary. (Without a
  # root, verify would look for /usr/bin/sideband-host on this machine.)
  set +e
  out=$(systemd-analyze verify --root="$root" "$UNIT" 2>&1)
  rc=$?
  set -e
  echo "systemd-analyze verify --root=... $UNIT: rc=$rc"
  [ -n "$out" ] && echo "$out"
  [ "$rc" = 0 ] && [ -z "$out" ] && ok "systemd-analyze verify is clean" || fail "systemd-analyze verify reported problems"

  # Control: the same check does see a broken unit, so the clean result above means something.
  sed -e 's/^ProtectSystem=/ProtectSytem=/' -e 's|^ExecStart=/usr/bin/|ExecStart=/usr/bin/no-such-|' \
    "$root/lib/systemd/system/$UNIT" >"$root/lib/systemd/system/sideband-broken.service"
  out=$(systemd-analyze verify --root="$root" sideband-broken.service 2>&1 || true)
  if grep -q 'ProtectSytem' <<<"$out" && grep -q 'no-such-sideband-host' <<<"$out"; then
    ok "control: verify reports a misspelt key and a missing binary"
  else
    fail "control: verify did not report the broken unit; output: $out"
  fi
  finish
}

cmd_unit_security() {
  need systemd-analyze systemd
  need dpkg dpkg
  local root out rc score
  root="$SIDEBAND_SCRATCH_DIR/security"
  unit_root "$root"
  set +e
  out=$(systemd-analyze security --offline=yes --root="$root" --no-pager "$UNIT" 2>&1)
  rc=$?
  set -e
  echo "$out"
  score=$(sed -n "s/.*Overall exposure level for $UNIT: \([0-9.]*\).*/\1/p" <<<"$out")
  [ -n "$score" ] || die "systemd-analyze security printed no exposure level (rc=$rc)"
  echo "exposure: $score (must be <= $MAX_EXPOSURE)"
  [ "$rc" = 0 ] || fail "systemd-analyze security exited $rc"
  awk -v s="$score" -v m="$MAX_EXPOSURE" 'BEGIN { exit !(s <= m) }' && ok "exposure $score <= $MAX_EXPOSURE" || fail "exposure $score > $MAX_EXPOSURE"
  # The same limit through systemd-analyze's own gate (--threshold is in tenths).
  systemd-analyze security --offline=yes --root="$root" --threshold=20 "$UNIT" >/dev/null 2>&1 &&
    ok "systemd-analyze security --threshold=20 passes" || fail "systemd-analyze security --threshold=20 fails"
  finish
}

case "${1:-}" in
  build) cmd_build ;;
  contents) cmd_contents ;;
  install_root) cmd_install_root ;;
  unit_verify) cmd_unit_verify ;;
  unit_security) cmd_unit_security ;;
  *) die "usage: $0 build|contents|install_root|unit_verify|unit_security" ;;
esac
