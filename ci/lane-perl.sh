#!/usr/bin/env bash
# Lane: the Perl bindings, as a user gets them. A copy of the XPoll distribution
# (bindings/perl) in a temporary directory builds libxpoll from this checkout's
# sources (CMake, with kqueue when libkqueue is installed), then
# perl Makefile.PL && make && make test && make install into a temporary prefix
# (INSTALL_BASE): no XPOLL_LIBRARY, no LD_LIBRARY_PATH, no libxpoll installed
# system-wide. Then a program runs against the installed module from outside
# the source tree, and IO::Async's LoopTests run against the installed
# IO::Async::Loop::XPoll on every compiled backend.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD
unset XPOLL_LIBRARY LD_LIBRARY_PATH PERL5LIB XPOLL_BACKEND
# What the lane needs beyond perl (ci/deps.sh): Perl's headers for the XS module, IO::Async with what
# its conformance kit loads, and AnyEvent.
missing=()
[ -e "$(perl -MConfig -e 'print "$Config{archlibexp}/CORE/perl.h"')" ] || missing+=(libperl-dev)
for m in IO::Async::LoopTests:libio-async-perl Test::Fatal:libtest-fatal-perl Test::Refcount:libtest-refcount-perl \
  AnyEvent:libanyevent-perl; do
  perl -M"${m%%:*}" -e1 2>/dev/null || missing+=("${m##*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "lane-perl: missing Debian packages: ${missing[*]}" >&2
  exit 1
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/xpoll-perl.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix

cp -r bindings/perl "$tmp/dist"
rm -rf "$tmp/dist/blib" "$tmp/dist/_xpoll_build" "$tmp/dist/Makefile"
cd "$tmp/dist"
# INSTALL_BASE is given to Makefile.PL: given to make install alone, it would not move the install.
XPOLL_SOURCE_DIR=$top perl Makefile.PL INSTALL_BASE="$prefix" | grep -E '^XPoll:'
make >make.log 2>&1 || { tail -n 40 make.log; exit 1; }
grep -E '^-- xpoll .* backends' _xpoll_build.log || true
make test
make install >install.log 2>&1 || { tail -n 20 install.log; exit 1; }
if grep -E '^(Installing|Appending) ' install.log | grep -v " $prefix/"; then
  echo "make install wrote outside $prefix" >&2
  exit 1
fi

# From outside the source tree, with only the installed module.
cd "$tmp"
export PERL5LIB=$prefix/lib/perl5
cat >"$tmp/echo.pl" <<'EOF'
# An IO::Async program that knows nothing of xpoll: a stream echoes over a socket pair.
use strict;
use warnings;
use IO::Async::Loop;
use IO::Async::Stream;
use XPoll;
my $loop = IO::Async::Loop->new;
die "IO_ASYNC_LOOP=XPoll gave " . ref($loop) . "\n" unless $loop->isa('IO::Async::Loop::XPoll');
my ($a, $b) = IO::Async::OS->socketpair or die "socketpair: $!";
my $echo = IO::Async::Stream->new(handle => $a, on_read => sub {
  my ($self, $buf) = @_;
  $self->write($$buf);
  $$buf = '';
  return 0;
});
my $got = '';
my $client = IO::Async::Stream->new(handle => $b, on_read => sub {
  my ($self, $buf) = @_;
  $got .= $$buf;
  $$buf = '';
  return 0;
});
$loop->add($_) for $echo, $client;
$client->write("hello $_\n") for 1 .. 3;
my $timeout = $loop->watch_time(after => 10, code => sub { die "echo: timed out\n" });
$loop->loop_once(1) until length($got) >= 24;
$got eq "hello 1\nhello 2\nhello 3\n" or die "echo: got '$got'\n";
my $lib = XPoll->library;
index($lib, $ENV{PREFIX}) == 0 or die "the library came from $lib, not the installed prefix\n";
printf "echo over %s (%s), library %s\n", ref($loop), $loop->backend, $lib;
EOF
for backend in $(perl -MXPoll -e 'print join " ", XPoll->backends'); do
  PREFIX=$prefix IO_ASYNC_LOOP=XPoll XPOLL_BACKEND=$backend perl "$tmp/echo.pl"
done

# IO::Async's conformance kit against the installed loop class, on every compiled backend.
prove "$tmp/dist/t/40-io-async-loop.t"
