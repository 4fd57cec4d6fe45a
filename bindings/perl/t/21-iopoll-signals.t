use strict;
use warnings;
use Test::More;
use Errno qw(EINTR ENOENT);
use IO::Poll qw(POLLIN);
use POSIX ();
use Socket;
use Time::HiRes qw(time setitimer ITIMER_REAL);
use XPoll;
use XPoll::Poll;

# A signal ends IO::Poll's poll: -1, $! EINTR, the handler having run. XPoll::Poll must do the same on
# every backend, also with no handle registered (IO::Poll blocks then, until the signal).

# The hard guard: a wait that never comes back to Perl (so that no handler can run) would hang the
# test; this child ends it after 60 s instead. It is stopped by its pid at the end.
my $parent   = $$;
my $watchdog = fork // die "fork: $!";
if (!$watchdog) {
  sleep 60;
  kill 'KILL', $parent if getppid() == $parent;
  POSIX::_exit(0);
}
END {
  local $?;    # the exit status of the test, not of the watchdog
  if ($watchdog && $$ == $parent) { kill 'TERM', $watchdog; waitpid $watchdog, 0 }
}

# Runs $code with SIGALRM after 0.1 s and then every 0.5 s. The handler counts, sets $stop, and sets
# $! to ENOENT (as its own system calls might). A wait that goes on after the signal is ended, bounded,
# by the seventh one (3.1 s), whose handler dies. Returns what $code returned, $! and the handler's count
# as they were when $code returned, the exception if any, and the time taken.
my $stop;
sub under_signal {
  my ($code) = @_;
  my $signals = 0;
  $stop = 0;
  local $SIG{ALRM} = sub {
    $signals++;
    $stop = 1;
    $! = ENOENT;
    die "still waiting after $signals signals\n" if $signals >= 7;
  };
  my $t0 = time;
  setitimer(ITIMER_REAL, 0.1, 0.5);
  my @got = eval { my $rc = $code->(); ($rc, $! + 0, $signals) };
  my $error = $@;
  setitimer(ITIMER_REAL, 0);
  my %r = (rc => $got[0], errno => $got[1], handler_ran => $got[2], error => $error, took => time - $t0);
  return \%r;
}

sub pair {
  socketpair(my $a, my $b, AF_UNIX, SOCK_STREAM, PF_UNSPEC) or die "socketpair: $!";
  $_->blocking(0) for $a, $b;
  return ($a, $b);
}

# The cases, each run on IO::Poll and on XPoll::Poll over each backend; each gives
# [poll's answer, $!, how many times the handler ran, its exception, events of a handle afterwards].
my %case = (
  'poll(undef), a handle registered' => sub {
    my ($poll) = @_;
    my ($a, $b) = pair();
    $poll->mask($a => POLLIN);
    my $r = under_signal(sub { $poll->poll(undef) });
    return [@$r{qw(rc errno handler_ran error)}, $poll->events($a)];
  },
  'poll(undef), nothing registered' => sub {
    my ($poll) = @_;
    my $r = under_signal(sub { $poll->poll(undef) });
    return [@$r{qw(rc errno handler_ran error)}, $r->{took} >= 0.05 ? 'blocked' : 'did not block'];
  },
  'poll(5), a handle registered' => sub {
    my ($poll) = @_;
    my ($a, $b) = pair();
    $poll->mask($a => POLLIN);
    my $r = under_signal(sub { $poll->poll(5) });
    return [@$r{qw(rc errno handler_ran error)}, $poll->events($a)];
  },
  'until ($stop) { poll(undef) }' => sub {
    my ($poll) = @_;
    my ($a, $b) = pair();
    $poll->mask($a => POLLIN);
    my $r = under_signal(sub { my $n = 0; until ($stop) { $poll->poll(undef); $n++ } "stopped after $n" });
    return [@$r{qw(rc handler_ran error)}];
  },
);

my %expected = map { $_ => $case{$_}->(IO::Poll->new) } keys %case;
is_deeply($expected{'poll(undef), a handle registered'}, [-1, EINTR, 1, '', ''],
          'IO::Poll: a signal ends poll(undef) with -1 and EINTR, its handler having run');
is_deeply($expected{'poll(undef), nothing registered'}, [-1, EINTR, 1, '', 'blocked'],
          'IO::Poll: with nothing registered, poll(undef) blocks until the signal');
is_deeply($expected{'until ($stop) { poll(undef) }'}, ['stopped after 1', 1, ''],
          'IO::Poll: the loop sees what the handler did');

for my $backend (XPoll->backends) {
  for my $name (sort keys %case) {
    my $got = $case{$name}->(XPoll::Poll->new(backend => $backend));
    is_deeply($got, $expected{$name}, "$backend: $name: as IO::Poll")
      or diag(explain($got));
  }
  # A wait after the interrupted one works as before.
  my $poll = XPoll::Poll->new(backend => $backend);
  my ($a, $b) = pair();
  $poll->mask($a => POLLIN);
  under_signal(sub { $poll->poll(undef) });
  syswrite($b, 'x');
  is($poll->poll(2), 1, "$backend: the next poll reports what is ready");
  is($poll->events($a), POLLIN, "$backend: ... with its events");
}
done_testing;
