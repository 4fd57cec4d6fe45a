use strict;
use warnings;
use Test::More;
use IO::Poll qw(POLLIN POLLOUT POLLHUP);
use Socket;
use XPoll::Poll;

# The same script, run against IO::Poll and against XPoll::Poll on every backend, gives the same answers.
sub script {
  my ($poll) = @_;
  my @seen;
  socketpair(my $a, my $b, AF_UNIX, SOCK_STREAM, PF_UNSPEC) or die $!;
  socketpair(my $c, my $d, AF_UNIX, SOCK_STREAM, PF_UNSPEC) or die $!;
  $_->blocking(0) for $a, $b, $c, $d;
  $poll->mask($a => POLLIN);
  $poll->mask($c => POLLIN | POLLOUT);
  push @seen, ['mask', $poll->mask($a), $poll->mask($c)];
  push @seen, ['poll', $poll->poll(0)];
  push @seen, ['events', $poll->events($a), $poll->events($c)];
  syswrite($b, 'x');
  push @seen, ['poll', $poll->poll(2)];
  push @seen, ['events', $poll->events($a), $poll->events($c)];
  push @seen, ['readers', scalar(() = $poll->handles(POLLIN))];
  push @seen, ['all', scalar(() = $poll->handles)];
  $poll->mask($c => 0);                              # a mask of 0 removes
  push @seen, ['after mask 0', scalar(() = $poll->handles), $poll->poll(2)];
  $poll->remove($a);
  push @seen, ['after remove', scalar(() = $poll->handles)];
  $poll->mask($a => POLLIN);
  close $b;
  push @seen, ['peer closed', $poll->poll(2), ($poll->events($a) & POLLIN) ? 'in' : 'no in'];
  return \@seen;
}

# A handle closed while registered, and its number reused by a new handle.
sub reuse {
  my ($poll) = @_;
  socketpair(my $a, my $b, AF_UNIX, SOCK_STREAM, PF_UNSPEC) or die $!;
  $poll->mask($a => POLLIN);
  close $a;
  $poll->remove($a);                                 # quietly, as IO::Poll does
  socketpair(my $c, my $d, AF_UNIX, SOCK_STREAM, PF_UNSPEC) or die $!;
  $poll->mask($c => POLLIN);
  syswrite($d, 'x');
  return ($poll->poll(2), scalar(() = $poll->handles));
}

my $expected = script(IO::Poll->new);
my ($expected_reuse) = reuse(IO::Poll->new);    # IO::Poll cannot remove a closed handle; XPoll::Poll can
for my $backend (XPoll->backends) {
  my $poll = XPoll::Poll->new(backend => $backend);
  is($poll->backend, $backend, "XPoll::Poll on $backend");
  is_deeply(script($poll), $expected, "$backend: the IO::Poll script gives IO::Poll's answers");
  my ($count, $handles) = reuse(XPoll::Poll->new(backend => $backend));
  is($count, $expected_reuse, "$backend: a handle on the reused number of a closed one is reported");
  is($handles, 1, "$backend: and the closed one was removed");
}
eval { XPoll::Poll->new(modus => 'edge') };
like($@, qr/unknown option\(s\) to new: modus/, 'an unknown option to new is refused, named');
done_testing;
