package AnyEvent::Impl::XPoll;

use strict;
use warnings;

use AnyEvent ();
use Scalar::Util qw(weaken);
use Time::HiRes ();
use XPoll qw(IN OUT ERR HUP);

our $VERSION = '1.00';

# One poller for the process (AnyEvent has one loop), on the best backend or $XPOLL_BACKEND.
our $POLLER = XPoll->new;
my $POLLER_PID = $$;

# I/O: {fd} = [ {id => reader}, {id => writer}, the interest registered ].
my %IO;
my $NEXT_ID = 0;

# Timers: a binary heap of [when, seq, timer], the earliest first; a cancelled timer stays in the
# heap, marked, until it comes up.
my @HEAP;
my $SEQ = 0;
my $NOW = Time::HiRes::time;

sub now        { $NOW }
sub now_update { $NOW = Time::HiRes::time }

# A forked child that goes on with AnyEvent gets a poller of its own, with every watcher again.
sub _poller {
  return $POLLER if $$ == $POLLER_PID;
  # The parent's poller first (see IO::Async::Loop::XPoll's post_fork), then a new one.
  my $backend = $POLLER->backend;
  $POLLER->close;
  $POLLER     = XPoll->new(backend => $backend);
  $POLLER_PID = $$;
  $_->[2] = 0 for values %IO;
  _update($_) for keys %IO;
  return $POLLER;
}

sub _update {
  my ($fd) = @_;
  my $w = $IO{$fd} or return;
  my $want = (%{ $w->[0] } ? IN : 0) | (%{ $w->[1] } ? OUT : 0);
  return if $want == $w->[2] && $want;
  if (!$want) {
    delete $IO{$fd};
    eval { $POLLER->remove($fd); 1 } if $w->[2];    # also when the handle was closed first
    return;
  }
  if ($w->[2]) {
    $POLLER->modify($fd, $want);
  } else {
    $POLLER->add($fd, $want);
  }
  $w->[2] = $want;
}

sub io {
  my (undef, %arg) = @_;
  my $fd = ref $arg{fh} || $arg{fh} !~ /^\d+$/ ? fileno($arg{fh}) : $arg{fh};
  defined $fd or Carp::croak("AnyEvent::Impl::XPoll: io: not an open filehandle");
  my $dir = $arg{poll} eq 'w' ? 1 : 0;
  my $id  = ++$NEXT_ID;
  _poller();
  my $w = $IO{$fd} ||= [{}, {}, 0];
  $w->[$dir]{$id} = $arg{cb};
  _update($fd);
  return bless [$fd, $dir, $id], 'AnyEvent::Impl::XPoll::io';
}

sub AnyEvent::Impl::XPoll::io::DESTROY {
  my ($fd, $dir, $id) = @{ $_[0] };
  my $w = $IO{$fd} or return;
  delete $w->[$dir]{$id};
  _update($fd) if $$ == $POLLER_PID;
}

sub _push {
  my ($entry) = @_;
  push @HEAP, $entry;
  my $i = $#HEAP;
  while ($i > 0) {
    my $up = ($i - 1) >> 1;
    last if _earlier($HEAP[$up], $HEAP[$i]);
    @HEAP[$up, $i] = @HEAP[$i, $up];
    $i = $up;
  }
}

sub _pop {
  my $top  = $HEAP[0];
  my $last = pop @HEAP;
  if (@HEAP) {
    $HEAP[0] = $last;
    my $i = 0;
    while (1) {
      my ($l, $r, $min) = (2 * $i + 1, 2 * $i + 2, $i);
      $min = $l if $l < @HEAP && _earlier($HEAP[$l], $HEAP[$min]);
      $min = $r if $r < @HEAP && _earlier($HEAP[$r], $HEAP[$min]);
      last if $min == $i;
      @HEAP[$min, $i] = @HEAP[$i, $min];
      $i = $min;
    }
  }
  return $top;
}

sub _earlier { $_[0][0] < $_[1][0] || ($_[0][0] == $_[1][0] && $_[0][1] < $_[1][1]) }

sub timer {
  my (undef, %arg) = @_;
  my $after = $arg{after} // 0;
  my $timer = bless { cb => $arg{cb}, interval => $arg{interval} }, 'AnyEvent::Impl::XPoll::timer';
  my $entry = [$NOW + ($after > 0 ? $after : 0), ++$SEQ, $timer];
  weaken($entry->[2]);    # the heap does not keep a timer alive: its guard does
  _push($entry);
  return $timer;
}

sub AnyEvent::Impl::XPoll::timer::DESTROY { $_[0]{cancelled} = 1 }

# One round: wait for I/O until the next timer, run what is ready, then the timers that are due.
sub _poll {
  my $poller = _poller();
  _pop() while @HEAP && (!$HEAP[0][2] || $HEAP[0][2]{cancelled});
  my $timeout = @HEAP ? $HEAP[0][0] - Time::HiRes::time : undef;
  $timeout = 0 if defined $timeout && $timeout < 0;
  my @got = $poller->_wait_fds($timeout, undef, 0);
  $NOW = Time::HiRes::time;
  while (@got) {
    my ($fd, $events) = splice @got, 0, 2;
    my $w = $IO{$fd} or next;
    # Each callback looked up when it runs: an earlier one may have destroyed its watcher.
    for my $dir (($events & (IN | HUP | ERR) ? 0 : ()), ($events & (OUT | HUP | ERR) ? 1 : ())) {
      for my $id (sort { $a <=> $b } keys %{ $w->[$dir] }) {
        my $cb = $w->[$dir]{$id} or next;
        $cb->();
      }
    }
  }
  while (@HEAP && $HEAP[0][0] <= $NOW) {
    my $timer = _pop()->[2];
    next if !$timer || $timer->{cancelled};
    if (my $ival = $timer->{interval}) {
      my $entry = [$NOW + $ival, ++$SEQ, $timer];
      weaken($entry->[2]);
      _push($entry);
    }
    $timer->{cb}->();
  }
  return;
}

sub one_event { _poll() }
sub loop      { _poll() while 1 }

# A condition variable's recv runs the loop until it is sent (AnyEvent's own default croaks).
no warnings 'redefine';
sub AnyEvent::CondVar::Base::_wait {
  _poll() until exists $_[0]{_ae_sent};
}

1;

__END__

=head1 NAME

AnyEvent::Impl::XPoll - AnyEvent on xpoll, on any of its backends

=head1 SYNOPSIS

  PERL_ANYEVENT_MODEL=XPoll perl program.pl
  PERL_ANYEVENT_MODEL=XPoll XPOLL_BACKEND=poll perl program.pl

=head1 DESCRIPTION

An L<AnyEvent> model over L<XPoll>: I/O watchers are xpoll registrations (several watchers of one
handle share one), timers a heap in Perl. Signals, child processes and idle watchers are
AnyEvent's own emulations over these. The backend is the best one, or C<$XPOLL_BACKEND>.

=head1 FUNCTIONS

=head2 io, timer

As L<AnyEvent> documents them (C<< AnyEvent->io >>, C<< AnyEvent->timer >>).

=head2 now, now_update

The loop's time, and its update.

=head2 one_event, loop

One round of the loop (wait for what is ready or the next timer, and run it); the loop for ever.

=head1 SEE ALSO

L<XPoll>, L<AnyEvent>, L<IO::Async::Loop::XPoll>.

=cut
