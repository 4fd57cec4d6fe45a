use strict;
use warnings;
use Test::More;
use Errno qw(EINVAL);
use Socket;
use Time::HiRes qw(time);
use XPoll qw(:all);

# Shared pollers (new(shared => 1): XPOLL_SHARED) and exclusive wake-up (add and modify with
# exclusive => 1: XPOLL_EXCLUSIVE), on every backend. From Perl a wait is never concurrent (a poller
# belongs to the interpreter that made it, and %SIG handlers run between the library's waits), so
# for the shared flag this checks what Perl can see: it is accepted and reaches the library, which
# refuses a flag it does not know, and a shared poller waits, reports, times out and wakes as any
# other. Several waiters on one poller are tested in C and from Python threads.

my $ENOTSUP = eval { Errno::ENOTSUP() } // Errno::EOPNOTSUPP();

sub pair {
  socketpair(my $a, my $b, AF_UNIX, SOCK_STREAM, PF_UNSPEC) or die "socketpair: $!";
  $_->blocking(0) for $a, $b;
  return ($a, $b);
}

# The events of a wait as [data, events] pairs, sorted by data.
sub got {
  my ($p, $timeout) = @_;
  return [sort { $a->[0] cmp $b->[0] } map { [$_->[2], $_->[1]] } $p->wait($timeout)];
}

for my $backend (XPoll->backends) {
  subtest "$backend: shared" => sub {
    my $p = XPoll->new(backend => $backend, shared => 1);
    is($p->backend, $backend, 'a shared poller opens');
    is_deeply([$p->wait(0)], [], 'a wait with time-out 0: nothing');
    my $t0 = time;
    is_deeply([$p->wait(0.05)], [], 'a wait with a time-out: nothing ...');
    ok(time - $t0 >= 0.045, '... after the time-out');
    my ($a, $b) = pair();
    $p->add($a, IN, 'a', mode => 'oneshot');
    syswrite($b, 'x');
    is_deeply(got($p, 2), [['a', IN]], 'oneshot: reported');
    is_deeply(got($p, 0), [], 'oneshot: once per arming');
    $p->modify($a, IN | ONESHOT);
    is_deeply(got($p, 2), [['a', IN]], 'oneshot: re-armed');
    $p->remove($a);
    $p->wake;
    $t0 = time;
    is_deeply([$p->wait(10)], [], 'woken: no events ...');
    ok(time - $t0 < 5, '... at once');
    ok(XPoll->new(backend => $backend, shared => 0), 'shared => 0: a poller as without it');

    # The flag reaches the library: the XS call that new() makes passes SHARED, and the library
    # refuses a creation flag it does not know.
    ok(ref XPoll::_create('XPoll', $backend, SHARED), 'the library takes SHARED');
    is(XPoll::_create('XPoll', $backend, SHARED << 1), $XPoll::C{XPOLL_EINVAL}, 'and refuses an unknown flag: EINVAL');
    is(XPoll::_create('XPoll', $backend, 2**40), $XPoll::C{XPOLL_EINVAL}, 'also one beyond 32 bits');
  };

  subtest "$backend: exclusive" => sub {
    my %caps = map { $_ => 1 } XPoll->backend_capabilities($backend);
    my $p = XPoll->new(backend => $backend);
    my ($a, $b) = pair();
    my ($c, $d) = pair();
    if (!$caps{exclusive}) {
      for my $add (sub { $p->add($a, IN, 'a', exclusive => 1) }, sub { $p->add($a, IN | EXCLUSIVE, 'a') }) {
        eval { $add->() };
        like($@, qr/XPOLL_ENOTSUP/, 'exclusive: refused with ENOTSUP');
        is($! + 0, $ENOTSUP, '$! is ENOTSUP');
        is($p->registered, 0, '... and nothing registered');
      }
      $p->add($a, IN, 'plain');
      eval { $p->modify($a, IN, 'changed', exclusive => 1) };
      like($@, qr/XPOLL_ENOTSUP/, 'modify to exclusive: ENOTSUP');
      syswrite($b, 'x');
      is_deeply(got($p, 2), [['plain', IN]], '... and the registration is unchanged');
      for my $call (sub { $p->add($c, IN, 'c', mode => 'oneshot', exclusive => 1) },
                    sub { $p->add($c, IN | RDHUP, 'c', exclusive => 1) }) {
        eval { $call->() };
        like($@, qr/XPOLL_ENOTSUP/, 'with oneshot or RDHUP: ENOTSUP first');
      }
      return;
    }
    ok($p->add($a, IN, 'a', exclusive => 1), 'exclusive: accepted');
    $p->add($c, IN | EXCLUSIVE, 'c');
    is($p->registered, 2, 'as an option and as the EXCLUSIVE bit');
    is_deeply(got($p, 0), [], 'nothing ready');
    syswrite($b, 'x');
    is_deeply(got($p, 2), [['a', IN]], 'readable: reported');
    is_deeply(got($p, 2), [['a', IN]], 'level-triggered: reported while ready');
    syswrite($d, 'y');
    is_deeply(got($p, 2), [['a', IN], ['c', IN]], 'both');
    $p->modify($a, IN, 'a', exclusive => 1);
    $p->modify($c, OUT, 'c out');
    is_deeply(got($p, 2), [['a', IN], ['c out', OUT]], 'modify: keeps exclusive, or drops it');
    $p->modify($c, IN, 'c in', exclusive => 1);
    is_deeply(got($p, 2), [['a', IN], ['c in', IN]], 'modify: takes it again');
    if ($caps{edge}) {
      $p->modify($c, IN, 'c edge', mode => 'edge', exclusive => 1);
      ok((grep { $_->[0] eq 'c edge' } @{ got($p, 2) }), 'edge and exclusive: reported');
      ok(!(grep { $_->[0] eq 'c edge' } @{ got($p, 0) }), '... once');
    }
    # The kernel takes neither oneshot nor RDHUP with EPOLLEXCLUSIVE: EINVAL, and nothing changes.
    my ($e, $f) = pair();
    for my $call (sub { $p->add($e, IN, 'e', mode => 'oneshot', exclusive => 1) },
                  sub { $p->add($e, IN | ONESHOT | EXCLUSIVE, 'e') },
                  sub { $p->add($e, IN | RDHUP, 'e', exclusive => 1) },
                  sub { $p->modify($a, IN, 'a', mode => 'oneshot', exclusive => 1) }) {
      eval { $call->() };
      like($@, qr/XPOLL_EINVAL/, 'with oneshot or RDHUP: EINVAL');
      is($! + 0, EINVAL, '$! is EINVAL');
    }
    is($p->registered, 2, 'nothing registered');
    is_deeply([grep { $_->[0] eq 'a' } @{ got($p, 2) }], [['a', IN]], 'a is unchanged: level, still reported');
  };
}

eval { XPoll->new(sharing => 1) };
like($@, qr/unknown option\(s\) to new: sharing \(known: backend, shared\)/, 'an unknown option to new: named');
is($! + 0, EINVAL, '$! is EINVAL');
{
  my $p = XPoll->new;
  my ($a) = pair();
  eval { $p->add($a, IN, undef, exclusiv => 1) };
  like($@, qr/unknown option\(s\) to add: exclusiv \(known: mode, exclusive\)/, 'a misspelt exclusive: named');
  is($p->registered, 0, '... and nothing registered');
}
done_testing;
