package XPoll::Poll;

use strict;
use warnings;

use Carp qw(croak);
use IO::Poll qw(POLLIN POLLOUT POLLRDNORM POLLWRNORM POLLWRBAND);
use Scalar::Util qw(refaddr);
use XPoll qw(IN OUT);

our $VERSION = '1.00';

# IO::Poll's masks in, xpoll's interest out; and back (here for the slow paths, in XPoll.xs for mask,
# remove and poll). POLLPRI and POLLRDBAND ask for urgent (out-of-band) data, which xpoll does not
# watch yet: ordinary data must not answer them, so they add no interest of their own (a handle asked
# for them alone is watched for errors and hang-ups).
my $READ  = POLLIN | POLLRDNORM;
my $WRITE = POLLOUT | POLLWRNORM | POLLWRBAND;

# The registrations are the XPoll poller's own: under each descriptor, the handle and its IO::Poll
# mask. {ev}{fd} holds the last poll's events. mask and remove are XS (XPoll.xs) for a handle given
# as registered or new; the rest comes here.
sub new {
  my ($class, %opt) = @_;
  return bless { xp => XPoll->new(%opt), ev => {}, evio => {} }, $class;
}

sub _fd {
  my ($io) = @_;
  my $fd = defined $io ? fileno($io) : undef;
  croak "XPoll::Poll: not an open handle" unless defined $fd;
  return $fd;
}

# The descriptor a handle was registered under, also once it is closed
# (IO::Poll finds it by the handle itself).
sub _known_fd {
  my ($self, $io) = @_;
  my $fd = defined $io ? fileno($io) : undef;
  my ($known) = defined $fd ? $self->{xp}->_entry($fd) : ();
  return $fd if defined $known && _same($known, $io);
  my %all = $self->{xp}->_entries;
  for my $n (keys %all) {
    return $n if _same($all{$n}, $io);
  }
  return $fd;
}

sub _same {
  my ($a, $b) = @_;
  return ref $a && ref $b ? refaddr($a) == refaddr($b) : "$a" eq "$b";
}

# mask(IO) returns the mask; mask(IO, MASK) sets it, and a MASK of 0 removes IO.
sub _mask_slow {
  my ($self, $io, @mask) = @_;
  my $fd = _fd($io);
  my ($known, $old) = $self->{xp}->_entry($fd);
  return $old unless @mask;
  my $mask = $mask[0];
  if (!$mask) {
    $self->remove($io);
    return;
  }
  if (defined $known && !_same($known, $io)) {
    $self->remove($known);    # the number now belongs to another handle: start afresh
    undef $known;
  }
  my $interest = ($mask & $READ ? IN : 0) | ($mask & $WRITE ? OUT : 0);
  if (defined $known) {
    $self->{xp}->_modify_fd($fd, $interest, $mask);
  } else {
    $self->{xp}->_add_fd($fd, $interest, $io, $mask);
  }
  return $mask;
}

sub _remove_slow {
  my ($self, $io) = @_;
  my $fd = $self->_known_fd($io);
  return unless defined $fd && $self->{xp}->_entry($fd);
  delete $self->{ev}{$fd};
  eval { $self->{xp}->_remove_fd($fd); 1 };
  return;
}

# poll(TIMEOUT) is XS (XPoll.xs): seconds, undef or negative for ever. Returns how many handles have
# events, as IO::Poll does; events(IO) then says which. Like poll(2) under IO::Poll, it blocks also
# with no handle (until a signal), and a signal ends it: -1 with $! set to EINTR, its handler having
# run.

# As IO::Poll answers: the events, or an empty string for a handle the last poll did not report.
sub events {
  my ($self, $io) = @_;
  my $fd = fileno($io) // _fd($io);
  return $self->{ev}{$fd} // '';
}

# handles() lists every handle; handles(MASK) those whose last events had a bit of MASK.
sub handles {
  my ($self, @mask) = @_;
  my $ev = $self->{ev};
  if (@mask) {
    my $io = $self->{evio};
    return map { $io->{$_} } sort { $a <=> $b } grep { $ev->{$_} & $mask[0] } keys %$ev;
  }
  my %all = $self->{xp}->_entries;
  return map { $all{$_} } sort { $a <=> $b } keys %all;
}

sub backend { $_[0]{xp}->backend }

1;

__END__

=head1 NAME

XPoll::Poll - the IO::Poll interface over any xpoll backend

=head1 SYNOPSIS

  use IO::Poll qw(POLLIN POLLOUT);
  use XPoll::Poll;

  my $poll = XPoll::Poll->new;                  # was: IO::Poll->new
  $poll->mask($socket => POLLIN);
  $poll->poll(1.0);
  for my $h ($poll->handles(POLLIN)) { ... }

=head1 DESCRIPTION

The methods and masks of L<IO::Poll>, so that code written for it moves over by changing its
constructor, and gains epoll or kqueue (or keeps poll, or takes select) with xpoll's guarantees.

=head1 METHODS

=head2 new

  XPoll::Poll->new(backend => 'epoll')

Takes the options of C<< XPoll->new >>; without them, the best backend.

=head2 mask

  $poll->mask($io, $mask);   # set; a mask of 0 removes $io
  my $mask = $poll->mask($io);

C<POLLIN> and C<POLLRDNORM> ask for reading; C<POLLOUT>, C<POLLWRNORM> and C<POLLWRBAND> for
writing. Errors and hang-ups are always reported.

C<POLLPRI> and C<POLLRDBAND> ask for urgent (out-of-band) data, which xpoll does not watch yet:
they are kept in the mask but never reported, and ordinary data does not answer them (as under
L<IO::Poll>). A handle whose mask holds nothing else is watched for errors and hang-ups only.

=head2 poll

  my $count = $poll->poll($timeout);

Waits up to C<$timeout> seconds (C<undef> or negative: until something happens) and returns the
number of handles with events. With no handle it waits all the same, as L<IO::Poll> does.

A signal ends the wait, as it ends poll(2) under L<IO::Poll>: its C<%SIG> handler runs, then
C<poll> returns -1 with C<$!> set to C<EINTR> (and no events), so that a loop such as
C<until ($stop) { $poll-E<gt>poll(undef) }> sees what the handler did. A handler that dies ends
the wait with its exception.

=head2 events

  my $events = $poll->events($io);

What the last C<poll> reported for C<$io>: the asked bits that are ready, plus C<POLLERR> and
C<POLLHUP>.

=head2 handles

  my @all   = $poll->handles;
  my @ready = $poll->handles(POLLIN | POLLHUP);

=head2 remove

  $poll->remove($io);

=head2 backend

The xpoll backend underneath.

=head1 SEE ALSO

L<XPoll>, L<IO::Poll>.

=cut
