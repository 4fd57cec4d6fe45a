use strict;
use warnings;
use Test::More;
use XPoll;
use XPoll::BuildInfo;

# Nothing XPoll takes from include/xpoll/xpoll.h may drift from it: the header this build used (the
# repository's, or the installed one's when XPoll was built against an installed library) is parsed,
# and every constant, error code, capability and limit field is checked against what XPoll offers.
my $header = $XPoll::BuildInfo::INFO{header};
ok(-e $header, "the header of this build: $header") or BAIL_OUT("no header at $header");
open my $fh, '<', $header or die "$header: $!";
my $text = do { local $/; <$fh> };
$text =~ s{/\*.*?\*/}{}gs;

my %h;    # every numeric macro of the header
while ($text =~ /^\s*#\s*define\s+(XPOLL_\w+)\s+\(?\s*(-?(?:0x[0-9a-fA-F]+|\d+))[uU]?\s*\)?\s*$/mg) {
  my ($name, $value) = ($1, $2);
  $h{$name} = $value =~ /^(-?)0x(.+)$/ ? ($1 ? -hex $2 : hex $2) : 0 + $value;
}
ok(keys %h > 30, scalar(keys %h) . ' numeric macros parsed');

# What the XS object was compiled with is what the header says.
for my $name (sort keys %XPoll::C) {
  is($XPoll::C{$name}, $h{$name}, "$name: compiled in as the header has it");
}

# Every event, mode and creation bit of the header is offered as a constant of the same value.
# (An error code is a negative XPOLL_E*; the bits are the other flags outside the named families:
# event and mode bits, EXCLUSIVE, and the creation flag SHARED.)
my @errors = sort grep { /^XPOLL_E[A-Z]+$/ && $h{$_} < 0 } keys %h;
my @bits   = sort grep { !/^XPOLL_(CAP|PROBE|VERSION|LIMIT)_/ && $h{$_} > 0 && $_ ne 'XPOLL_WAIT_MAX' } keys %h;
is_deeply([sort map { s/^XPOLL_//r } @bits], [sort @XPoll::EXPORT_OK], 'the event, mode and creation bits: those XPoll exports');
for my $name (@bits) {
  my $const = XPoll->can($name =~ s/^XPOLL_//r);
  is($const && $const->(), $h{$name}, "$name: XPoll::" . ($name =~ s/^XPOLL_//r));
}

# Every capability has its name, and every error code its errno (or none, said so), in XPoll.pm.
for my $name (sort grep { /^XPOLL_CAP_/ } keys %h) {
  ok(defined $XPoll::CAP_NAME{$name}, "$name: named ($XPoll::CAP_NAME{$name})");
  ok(exists $XPoll::C{$name}, "$name: compiled in");
}
for my $name (@errors) {
  ok(exists $XPoll::ERRNO_OF{$name}, "$name: its errno is stated (" . ($XPoll::ERRNO_OF{$name} // 'none: EIO') . ')');
  ok(exists $XPoll::C{$name}, "$name: compiled in");
  is(XPoll::_errname($h{$name}), $name, "$name: the library names it so");
}
is_deeply([sort grep { !exists $h{$_} } keys %XPoll::CAP_NAME, keys %XPoll::ERRNO_OF], [],
  'nothing named in XPoll.pm that the header lacks');

# The fields of xpoll_limits_t, in order, are those XPoll->limits returns.
my ($limits) = $text =~ /typedef\s+struct\s+xpoll_limits\s*\{(.*?)\}\s*xpoll_limits_t;/s;
my @fields = $limits =~ /xpoll_limit_t\s+(\w+)\s*;/g;
is_deeply([XPoll::_limit_names()], \@fields, 'the limits: the fields of xpoll_limits_t');
is_deeply([sort keys %{ XPoll->limits }], [sort @fields], 'XPoll->limits returns each of them');
done_testing;
