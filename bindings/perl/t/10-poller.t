use strict;
use warnings;
use Test::More;
use Errno qw(EBADF EEXIST ENOENT);
use POSIX ();
use Scalar::Util qw(weaken);
use Socket;
use Time::HiRes qw(time);
use XPoll qw(:all);

sub pair {
  socketpair(my $a, my $b, AF_UNIX, SOCK_STREAM, PF_UNSPEC) or die "socketpair: $!";
  $_->blocking(0) for $a, $b;
  return ($a, $b);
}

for my $backend (XPoll->backends) {
  subtest $backend => sub {
    my %caps = map { $_ => 1 } XPoll->backend_capabilities($backend);
    my $p = XPoll->new(backend => $backend);
    is($p->backend, $backend, 'backend by name');
    is_deeply([sort $p->capabilities], [sort keys %caps], 'capabilities');

    my ($a, $b) = pair();
    {
      my $obj = { name => 'kept alive' };
      $p->add($a, IN, $obj);
      weaken($obj);
      ok($obj, 'user data is kept alive while registered');
    }
    is_deeply([$p->wait(0)], [], 'nothing ready');
    syswrite($b, 'x');
    my @ev = $p->wait(2);
    is(scalar @ev, 1, 'one event');
    is($ev[0][0], $a, 'the filehandle given to add comes back');
    is($ev[0][1], IN, 'readable');
    is($ev[0][2]{name}, 'kept alive', 'with its data');
    $p->modify($a, OUT);
    @ev = $p->wait(2);
    is($ev[0][1], OUT, 'modified to writable');
    is($ev[0][2]{name}, 'kept alive', 'data kept by modify without data');
    $p->modify($a, IN, 'new');
    is(($p->wait(2))[0][2], 'new', 'modify with data');
    is($p->remove($a), 'new', 'remove returns the data');
    is_deeply([$p->wait(0)], [], 'removed: never reported');

    # Descriptor numbers work as well as handles.
    $p->add(fileno($a), IN, 'by number');
    is_deeply([map { $_->[0] } $p->wait(2)], [fileno $a], 'a number comes back as a number');
    $p->remove(fileno $a);

    # Oneshot.
    $p->add($a, IN, 'once', mode => 'oneshot');
    is(scalar(my @x = $p->wait(2)), 1, 'oneshot: reported');
    is(scalar(@x = $p->wait(0)), 0, 'oneshot: not again');
    $p->modify($a, IN | ONESHOT);
    is(scalar(@x = $p->wait(2)), 1, 'oneshot: re-armed by modify');
    $p->remove($a);

    # Edge, or a clear refusal.
    if ($caps{edge}) {
      $p->add($a, IN, 'edge', mode => 'edge');
      is(scalar(@x = $p->wait(2)), 1, 'edge: reported');
      is(scalar(@x = $p->wait(0)), 0, 'edge: no new edge');
      syswrite($b, 'y');
      is(scalar(@x = $p->wait(2)), 1, 'edge: new data, new edge');
      $p->remove($a);
    } else {
      eval { $p->add($a, IN, undef, mode => 'edge') };
      like($@, qr/XPOLL_ENOTSUP/, 'edge refused with ENOTSUP');
      is($p->registered, 0, '... and nothing registered');
    }

    # Bad input croaks with a clear message, sets $!, and changes nothing.
    $p->add($a, IN, 'keep');
    eval { $p->add($a, IN) };
    like($@, qr/already registered \(XPOLL_EEXIST\)/, 'twice: EEXIST');
    is($! + 0, EEXIST, '$! is EEXIST');
    eval { $p->remove($b) };
    like($@, qr/XPOLL_ENOENT/, 'unknown: ENOENT');
    is($! + 0, ENOENT, '$! is ENOENT');
    eval { $p->modify($b, IN) };
    like($@, qr/XPOLL_ENOENT/, 'modify unknown: ENOENT');
    my $closed = POSIX::dup(fileno $b);
    POSIX::close($closed);
    eval { $p->add($closed, IN) };
    like($@, qr/XPOLL_EBADF/, 'closed descriptor: EBADF');
    is($! + 0, EBADF, '$! is EBADF');
    eval { $p->add(-1, IN) };
    like($@, qr/invalid descriptor/, 'negative descriptor');
    eval { $p->add(undef, IN) };
    like($@, qr/filehandle or descriptor number is required/, 'undef descriptor');
    eval { $p->add(\my $not_a_handle, IN) };
    like($@, qr/not an open filehandle/, 'not a handle');
    eval { $p->add($b, 'lots') };
    like($@, qr/events must be a number/, 'events not a number');
    eval { $p->add($b, 0x80000000) };
    like($@, qr/XPOLL_EINVAL/, 'unknown event bits');
    eval { $p->add($b, IN, undef, mode => 'sideways') };
    like($@, qr/mode must be level, oneshot or edge/, 'unknown mode');
    eval { $p->wait(0, 0) };
    like($@, qr/max must be between/, 'max of 0');
    eval { $p->wait(0, 2_000_000) };
    like($@, qr/max must be between/, 'oversized max');
    syswrite($b, 'z');
    is(($p->wait(2))[0][2], 'keep', 'the registration survived all of it');

    # A signal: its handler runs and the wait goes on with the time left; one that dies ends it.
    my $alarms = 0;
    {
      local $SIG{ALRM} = sub { $alarms++ };
      sysread($a, my $drain, 100);
      Time::HiRes::alarm(0.05);
      my $t0 = time;
      my @none = $p->wait(0.3);
      my $took = time - $t0;
      is($alarms, 1, 'the signal handler ran');
      ok($took >= 0.28 && $took < 2, sprintf('the wait went on to its timeout (%.2f s)', $took));
    }
    {
      local $SIG{ALRM} = sub { die "from the handler\n" };
      Time::HiRes::alarm(0.05);
      my $t0 = time;
      eval { $p->wait(5) };
      is($@, "from the handler\n", 'a handler that dies ends the wait');
      ok(time - $t0 < 4, '... promptly');
    }
    # A wake from a signal handler ends a wait that would block for ever.
    {
      local $SIG{ALRM} = sub { $p->wake };
      Time::HiRes::alarm(0.05);
      my $t0 = time;
      my @got = $p->wait(undef);
      is(scalar @got, 0, 'woken: no events');
      ok(time - $t0 < 4, 'wake from a signal handler ends an endless wait');
    }

    $p->close;
    eval { $p->wait(0) };
    like($@, qr/closed/, 'a closed poller croaks');
  };
}

eval { XPoll->new(backend => 'no-such-backend') };
like($@, qr/no backend 'no-such-backend' is compiled in \(compiled: /, 'unknown backend names the compiled ones');
eval { XPoll->new(colour => 'blue') };
like($@, qr/unknown option/, 'unknown option to new');
my $limits = XPoll->limits;
is($limits->{nofile_soft}{source}, 'getrlimit(RLIMIT_NOFILE)', 'limits: the soft limit and its source');
ok($limits->{nofile_soft}{value} > 0, 'limits: a positive value');
done_testing;
