use strict;
use warnings;
use Test::More;
use IO::Poll qw(POLLIN POLLPRI POLLRDBAND POLLRDNORM);
use Socket;
use XPoll;
use XPoll::Poll;

# POLLPRI and POLLRDBAND ask for urgent data, which xpoll does not watch yet. Ordinary data must not
# answer them: IO::Poll reports nothing for it, and XPoll::Poll must not either, on any backend.
sub pair {
  socketpair(my $a, my $b, AF_UNIX, SOCK_STREAM, PF_UNSPEC) or die "socketpair: $!";
  $_->blocking(0) for $a, $b;
  return ($a, $b);
}

sub script {
  my ($poll) = @_;
  my @seen;
  my ($pri, $pri_peer)     = pair();
  my ($band, $band_peer)   = pair();
  my ($both, $both_peer)   = pair();
  my ($norm, $norm_peer)   = pair();
  syswrite($_, 'ordinary data') for $pri_peer, $band_peer, $both_peer, $norm_peer;
  $poll->mask($pri => POLLPRI);
  $poll->mask($band => POLLRDBAND);
  push @seen, ['urgent only', $poll->poll(0.2), $poll->events($pri), $poll->events($band)];
  push @seen, ['masks kept', $poll->mask($pri), $poll->mask($band)];
  $poll->mask($both => POLLIN | POLLPRI);
  $poll->mask($norm => POLLRDNORM | POLLRDBAND);
  push @seen, ['with reading', $poll->poll(2), map { $poll->events($_) } $pri, $band, $both, $norm];
  push @seen, ['urgent handles', scalar(() = $poll->handles(POLLPRI | POLLRDBAND))];
  $poll->mask($pri => POLLIN | POLLPRI);
  push @seen, ['modified to reading', $poll->poll(2), $poll->events($pri)];
  return \@seen;
}

my $expected = script(IO::Poll->new);
is_deeply($expected->[0], ['urgent only', 0, '', ''], 'IO::Poll: ordinary data answers neither POLLPRI nor POLLRDBAND');
for my $backend (XPoll->backends) {
  my $poll = XPoll::Poll->new(backend => $backend);
  is_deeply(script($poll), $expected, "$backend: urgent masks and ordinary data: IO::Poll's answers");
}
done_testing;
