use strict;
use warnings;
use Test::More;
use Cwd qw(abs_path);
use File::Temp qw(tempfile);
use XPoll;

# AnyEvent on xpoll (PERL_ANYEVENT_MODEL=XPoll), on every compiled backend, each in a perl of its own
# (AnyEvent chooses its model once per process), bounded in time.
eval { require AnyEvent; 1 } or plan skip_all => "AnyEvent is not installed: $@";
my @inc = map { abs_path($_) // $_ } grep { !ref && -d } @INC;

my $script = <<'PERL';
use strict;
use warnings;
use AnyEvent;
use Socket;
alarm 30;
my @seen;
print AnyEvent::detect(), "\n";
# I/O: a reader sees the byte; a writer is ready at once; two readers of one handle both run.
socketpair(my $a, my $b, AF_UNIX, SOCK_STREAM, PF_UNSPEC) or die $!;
my $cv = AE::cv;
my ($r1, $r2);
$r1 = AE::io $a, 0, sub { sysread $a, my $buf, 16; push @seen, "read $buf"; undef $r1; $cv->send };
my $w; $w = AE::io $b, 1, sub { push @seen, 'writable'; undef $w; syswrite $b, 'x' };
$cv->recv;
# Timers in order; an interval timer runs again; a cancelled one never.
$cv = AE::cv;
my @t = map { my $n = $_; AE::timer 0.01 * $n, 0, sub { push @seen, "timer $n"; $cv->send if $n == 3 } } reverse 1 .. 3;
my $gone = AE::timer 0.02, 0, sub { push @seen, 'cancelled timer ran' };
undef $gone;
$cv->recv;
$cv = AE::cv;
my $ticks = 0;
my $iv = AE::timer 0, 0.01, sub { $cv->send if ++$ticks == 3 };
$cv->recv;
undef $iv;
push @seen, "ticks $ticks";
# A signal, a child's exit, an idle watcher (AnyEvent's emulations, over xpoll's I/O).
$cv = AE::cv;
my $sig = AE::signal USR1 => sub { push @seen, 'USR1'; $cv->send };
kill USR1 => $$;
$cv->recv;
$cv = AE::cv;
my $pid = fork // die "fork: $!";
if (!$pid) { require POSIX; POSIX::_exit(3) }
my $child = AE::child $pid, sub { push @seen, 'child ' . ($_[1] >> 8); $cv->send };
$cv->recv;
$cv = AE::cv;
my $idle = AE::idle sub { push @seen, 'idle'; $cv->send };
$cv->recv;
print "$_\n" for @seen;
PERL

my $expected = join "\n", 'AnyEvent::Impl::XPoll', 'writable', 'read x', 'timer 1', 'timer 2', 'timer 3', 'ticks 3',
  'USR1', 'child 3', 'idle', '';
my ($fh, $file) = tempfile(UNLINK => 1);
print $fh $script;
close $fh;
for my $backend (XPoll->backends) {
  local $ENV{PERL_ANYEVENT_MODEL} = 'XPoll';
  local $ENV{XPOLL_BACKEND}       = $backend;
  my $got = qx{$^X @{[map {"-I$_"} @inc]} $file 2>&1};
  is($got, $expected, "$backend: AnyEvent's watchers on xpoll");
}
done_testing;
