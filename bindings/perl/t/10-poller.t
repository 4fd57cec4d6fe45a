use strict;
use warnings;
use Test::More;
use Errno qw(EBADF EEXIST EINVAL ENOENT);
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
    # A closed handle (not a number): EBADF, whatever errno was left behind before (here ESPIPE,
    # from a seek on the socket, as a tell or a buffered handle may leave it).
    {
      my ($gone) = pair();
      sysseek($gone, 0, 1);
      close $gone;
      eval { $p->add($gone, IN) };
      like($@, qr/not an open filehandle/, 'closed handle: refused');
      is($! + 0, EBADF, '$! is EBADF for a closed handle');
      sysseek($b, 0, 1);
      eval { $p->modify($gone, IN) };
      is($! + 0, EBADF, '$! is EBADF for a closed handle to modify');
    }
    eval { $p->add(-1, IN) };
    like($@, qr/invalid descriptor/, 'negative descriptor');
    is($! + 0, EBADF, '$! is EBADF for a negative descriptor');
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
    # An unknown option is refused (EINVAL), named, and nothing changes. (Each on a poller of its own,
    # so that a registration made in spite of it cannot disturb the other tests.)
    {
      my $q = XPoll->new(backend => $backend);
      eval { $q->add($b, IN, undef, modus => 'edge') };
      like($@, qr/unknown option\(s\) to add: modus \(known: mode, exclusive\)/, 'unknown option to add: named');
      is($! + 0, EINVAL, '$! is EINVAL');
      is($q->registered, 0, '... and nothing registered');
      eval { $q->remove($b) };
      like($@, qr/XPOLL_ENOENT/, '... not even in the library');
    }
    {
      my $q = XPoll->new(backend => $backend);
      eval { $q->add($b, IN, undef, 'mode') };
      like($@, qr/options must be name => value pairs/, 'an option without its value');
      is($! + 0, EINVAL, '$! is EINVAL');
      is($q->registered, 0, '... and nothing registered');
    }
    {
      my $q = XPoll->new(backend => $backend);
      my ($c, $d) = pair();
      $q->add($c, IN, 'kept');
      eval { $q->modify($c, OUT, 'changed', modus => 'edge', colour => 'blue') };
      like($@, qr/unknown option\(s\) to modify: colour, modus/, 'unknown options to modify: named');
      is($! + 0, EINVAL, '$! is EINVAL');
      is_deeply([$q->wait(0)], [], '... the interest is unchanged (writable is not reported)');
      syswrite($d, 'x');
      is_deeply([map { [$_->[1], $_->[2]] } $q->wait(2)], [[IN, 'kept']], '... nor its data');
    }
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
like($@, qr/unknown option\(s\) to new: colour/, 'unknown option to new: named');
is($! + 0, EINVAL, '$! is EINVAL');
my $limits = XPoll->limits;
is($limits->{nofile_soft}{source}, 'getrlimit(RLIMIT_NOFILE)', 'limits: the soft limit and its source');
ok($limits->{nofile_soft}{value} > 0, 'limits: a positive value');
done_testing;
