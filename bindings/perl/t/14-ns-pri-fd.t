use strict;
use warnings;
use Test::More;
use Errno ();
use IO::Select;
use IO::Socket::INET;
use Socket qw(AF_UNIX MSG_OOB PF_UNSPEC SOCK_STREAM);
use Time::HiRes qw(clock_gettime CLOCK_MONOTONIC);
use XPoll qw(:all);

# The three additions of xpoll 1.1, on every compiled backend: time-outs finer than a millisecond
# (wait passes seconds through xpoll_wait_ns), PRI (TCP urgent data on loopback), and fileno (the
# poller's descriptor, nested in another poller). A backend without the capability refuses with
# ENOTSUP, and nothing is skipped without saying so.

my $ENOTSUP = defined eval { Errno::ENOTSUP() } ? Errno::ENOTSUP() : Errno::EOPNOTSUPP();

sub pair {
  socketpair(my $a, my $b, AF_UNIX, SOCK_STREAM, PF_UNSPEC) or die "socketpair: $!";
  $_->blocking(0) for $a, $b;
  return ($a, $b);
}

# A connected loopback TCP pair: (accepted, client).
sub tcp_pair {
  my $listener = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 1, ReuseAddr => 1)
    or die "listen: $!";
  my $client = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $listener->sockport) or die "connect: $!";
  my $server = $listener->accept or die "accept: $!";
  $_->blocking(0) for $server, $client;
  return ($server, $client);
}

sub now_ns { int(clock_gettime(CLOCK_MONOTONIC) * 1e9) }

is(PRI, 2, 'PRI is exported');

for my $backend (XPoll->backends) {
  subtest $backend => sub {
    my %caps = map { $_ => 1 } XPoll->backend_capabilities($backend);
    my $p = XPoll->new(backend => $backend);
    my ($a, $b) = pair();
    $p->add($a, IN, 'a');

    # Sub-millisecond time-outs never end early. Only that is asserted: how much later a wait ends is
    # the kernel's timer slack and this machine's load.
    for my $seconds (0.0001, 0.00025, 0.0005, 0.0015, 0.002) {
      my $t0  = now_ns();
      my @got = $p->wait($seconds);
      my $took = now_ns() - $t0;
      is(scalar @got, 0, "wait($seconds): nothing ready");
      # Perl's NV clock has microsecond-scale rounding: allow one microsecond of it.
      cmp_ok($took, '>=', $seconds * 1e9 - 1000, "wait($seconds) did not return early (${took} ns)");
    }
    syswrite($b, 'x');
    is_deeply([map { $_->[2] } $p->wait(0.0005)], ['a'], 'a sub-millisecond wait reports what is ready');
    sysread($a, my $drain, 10);

    # PRI: TCP urgent data.
    my ($server, $client) = tcp_pair();
    if ($caps{pri}) {
      $p->add($server, PRI, 'urgent');
      is_deeply([$p->wait(0)], [], 'PRI: nothing urgent yet');
      send($client, '!', MSG_OOB) or die "send MSG_OOB: $!";
      my @ev;
      for (1 .. 20) {
        @ev = grep { $_->[2] eq 'urgent' } $p->wait(0.25);
        last if @ev;
      }
      is(scalar @ev, 1, 'PRI: urgent data is reported');
      ok(@ev && $ev[0][1] & PRI, 'PRI: as PRI') or diag(sprintf 'events %#x', @ev ? $ev[0][1] : 0);
      my $got = recv($server, my $byte, 1, MSG_OOB);
      is($byte, '!', 'PRI: the urgent byte reads with MSG_OOB');
      $p->remove($server);
    } else {
      eval { $p->add($server, PRI, 'urgent') };
      like($@, qr/XPOLL_ENOTSUP/, 'PRI: refused where the backend lacks it');
      is($! + 0, $ENOTSUP, '$! is ENOTSUP');
      eval { $p->remove($server) };
      like($@, qr/XPOLL_ENOENT/, '... and nothing registered');
    }

    # fileno: the poller nested in IO::Select (select(2)) and in a poll-backend XPoll poller.
    if ($caps{fd}) {
      my $fd = $p->fileno;
      like($fd, qr/^\d+$/, "fileno: a descriptor ($fd)");
      is($p->fileno, $fd, 'fileno: the same one again');
      my $outer = IO::Select->new($fd);
      my $nested = XPoll->new(backend => 'poll');
      $nested->add($fd, IN, 'inner');
      syswrite($b, 'y');
      ok(scalar $outer->can_read(2), 'fileno: readable in select() once the inner poller has an event');
      is_deeply([map { $_->[2] } $nested->wait(2)], ['inner'], 'fileno: readable in another XPoll poller');
      is_deeply([map { $_->[2] } $p->wait(0)], ['a'], 'fileno: the inner wait(0) then reports the event');
      $nested->close;
    } else {
      eval { $p->fileno };
      like($@, qr/XPOLL_ENOTSUP/, 'fileno: refused where the backend has none');
      is($! + 0, $ENOTSUP, '$! is ENOTSUP');
    }
    $p->close;
    eval { $p->fileno };
    like($@, qr/closed/, 'fileno of a closed poller croaks');
  };
}

# The capability names, as the header documents them on Linux.
if ($^O eq 'linux') {
  my %want = (epoll => [qw(ns_timeout pri fd)], poll => [qw(ns_timeout pri)], select => [qw(ns_timeout pri)],
              kqueue => [qw(ns_timeout)]);
  my %not  = (epoll => [], poll => ['fd'], select => ['fd'], kqueue => [qw(pri fd)]);
  for my $backend (XPoll->backends) {
    next unless $want{$backend};
    my %caps = map { $_ => 1 } XPoll->backend_capabilities($backend);
    ok($caps{$_}, "$backend has $_") for @{ $want{$backend} };
    ok(!$caps{$_}, "$backend lacks $_") for @{ $not{$backend} };
  }
}

eval { XPoll->new->wait(9**9**9 - 9**9**9) };
like($@, qr/time-out is not a number/, 'a NaN time-out croaks');
done_testing;
