package IO::Async::Loop::XPoll;

use strict;
use warnings;

our $VERSION = '1.00';
use constant API_VERSION => '0.49';

use base qw(IO::Async::Loop);

use Carp qw(croak);
use Errno qw(EEXIST EPERM);
use Scalar::Util qw(refaddr);
use XPoll qw(IN OUT ERR HUP);

# As IO::Async::Loop::Poll and ::Select: not claimed. (Waits are rounded up to the millisecond, but
# the conformance kit's check for this calls watch_timer, which IO::Async 0.802 does not have.)
use constant _CAN_SUBSECOND_ACCURATELY => 0;
use constant _CAN_WATCHDOG             => 1;
use constant WATCHDOG_ENABLE           => IO::Async::Loop->WATCHDOG_ENABLE;

sub new {
  my ($class, %args) = @_;
  my $backend = delete $args{backend};
  my $poller  = XPoll->new(defined $backend ? (backend => $backend) : ());
  my $self    = $class->__new(%args);
  $self->{xpoll}  = $poller;
  $self->{xpmask} = {};    # {fd} = the interest registered with xpoll (IN, OUT, or 0 for hang-ups only)
  $self->{xpfile} = {};    # {fd} = 1 for a descriptor the backend refuses (a regular file): always ready
  return $self;
}

# on_hangup needs a backend that reports hang-ups (every one but select's).
sub _CAN_ON_HANGUP {
  my ($self) = @_;
  return ref $self && grep { $_ eq 'hangup' } $self->{xpoll}->capabilities;
}

# The xpoll backend underneath.
sub backend { $_[0]{xpoll}->backend }

sub is_running { $_[0]{running} }

sub watch_io {
  my ($self, %params) = @_;
  my $handle = $params{handle};
  my $fd     = $handle && eval { $handle->fileno };
  my $old    = defined $fd && $self->{iowatches}{$fd};
  if ($old && $old->[0] && refaddr($old->[0]) != refaddr($handle)) {
    # The number of a handle closed while watched (unwatch_io cannot name it once closed): its
    # callbacks and its registration go, and this handle starts afresh.
    delete $self->{iowatches}{$fd};
    $self->_update($fd, undef);
  }
  $self->__watch_io(%params);
  $fd = $handle->fileno;
  $self->_update($fd, $self->{iowatches}{$fd});
  return;
}

sub unwatch_io {
  my ($self, %params) = @_;
  my $fd = $params{handle} && $params{handle}->fileno;
  $self->__unwatch_io(%params);
  $self->_update($fd, $self->{iowatches}{$fd}) if defined $fd;
  return;
}

# Brings xpoll's registration of $fd in line with its watch (undef: none).
sub _update {
  my ($self, $fd, $watch) = @_;
  my $poller = $self->{xpoll};
  my $has    = $self->{xpmask}{$fd};
  if (!$watch) {
    delete $self->{xpfile}{$fd};
    return unless defined $has;
    delete $self->{xpmask}{$fd};
    # The handle may have been closed first: xpoll forgets it all the same.
    eval { $poller->remove($fd); 1 };
    return;
  }
  my $want = ($watch->[1] ? IN : 0) | ($watch->[2] ? OUT : 0);
  if (defined $has) {
    return if $has == $want;
    $poller->modify($fd, $want);
  } elsif ($self->{xpfile}{$fd}) {
    return;
  } elsif (!eval { $poller->add($fd, $want); 1 }) {
    if ($! == EEXIST) {
      # A registration left by a handle closed without unwatch_io, whose number this one reuses.
      $poller->remove($fd);
      $poller->add($fd, $want);
    } elsif ($! == EPERM) {
      # A descriptor the backend cannot watch, such as a regular file under epoll: always ready, as
      # poll(2) reports a regular file.
      $self->{xpfile}{$fd} = 1;
      return;
    } else {
      die $@;
    }
  }
  $self->{xpmask}{$fd} = $want;
  return;
}

sub loop_once {
  my ($self, $timeout) = @_;
  $self->_adjust_timeout(\$timeout);
  $timeout = 0 if %{ $self->{xpfile} };
  my $poller = $self->{xpoll};

  $self->pre_wait;
  my @got = $poller->_wait_fds($timeout, undef, 1);
  if (@got == 1 && !defined $got[0]) {
    # A signal: its handler has run. With a signal proxy, one more look (without waiting) finds
    # what the handler wrote to it.
    local $!;
    @got = $poller->_wait_fds(0, undef, 1);
    @got = () if @got == 1 && !defined $got[0];
  }
  $self->post_wait;

  alarm(IO::Async::Loop->WATCHDOG_INTERVAL) if WATCHDOG_ENABLE;
  my $count     = 0;
  my $iowatches = $self->{iowatches};
  while (@got) {
    my ($fd, $events) = splice @got, 0, 2;
    # Looked up now: an earlier callback of this round may have removed the watch.
    my $watch = $iowatches->{$fd} or next;
    $count++, $watch->[1]->() if $events & (IN | HUP | ERR) and defined $watch->[1];
    $count++, $watch->[2]->() if $events & (OUT | HUP | ERR) and defined $watch->[2];
    $count++, $watch->[3]->() if $events & (HUP | ERR) and defined $watch->[3];
  }
  for my $fd (keys %{ $self->{xpfile} }) {
    my $watch = $iowatches->{$fd} or next;
    $count++, $watch->[1]->() if defined $watch->[1];
    $count++, $watch->[2]->() if defined $watch->[2];
  }
  $count += $self->_manage_queues;
  alarm(0) if WATCHDOG_ENABLE;
  return $count;
}

# A poller belongs to the process that made it: a forked child that goes on with this loop gets a
# new one, with what is watched registered again.
sub post_fork {
  my ($self) = @_;
  # The parent's poller is destroyed in the child only, which the library allows (t/12-fork.t).
  my $backend = $self->{xpoll}->backend;
  $self->{xpoll}->close;
  $self->{xpoll}  = XPoll->new(backend => $backend);
  $self->{xpmask} = {};
  $self->{xpfile} = {};
  $self->_update($_, $self->{iowatches}{$_}) for keys %{ $self->{iowatches} };
  $self->SUPER::post_fork;
  return;
}

1;

__END__

=head1 NAME

IO::Async::Loop::XPoll - run IO::Async programs on xpoll, on any of its backends

=head1 SYNOPSIS

  IO_ASYNC_LOOP=XPoll perl program.pl            # any IO::Async program
  IO_ASYNC_LOOP=XPoll XPOLL_BACKEND=poll perl program.pl

  use IO::Async::Loop::XPoll;
  my $loop = IO::Async::Loop::XPoll->new(backend => 'epoll');   # or the best one
  $loop->add(...);
  $loop->run;

=head1 DESCRIPTION

An L<IO::Async::Loop> over L<XPoll>: epoll, kqueue, poll or select, with xpoll's guarantees. It
passes IO::Async's conformance kit (L<IO::Async::LoopTests>: io, timer, signal, idle, process and
control) on every compiled backend. C<IO::Async::Loop-E<gt>new> picks it when C<$IO_ASYNC_LOOP> is
C<XPoll>.

Signals, child processes, timers and idle work are IO::Async's own (a signal proxy pipe and the
loop's queues); this class waits on xpoll and runs the read, write and hang-up callbacks of what is
ready, each looked up when it is run, so that a callback may remove another.

A regular file, which epoll refuses, is treated as always ready (as poll(2) reports it).
C<on_hangup> needs a backend that reports hang-ups: every one but C<select>.

=head1 METHODS

=head2 new

  my $loop = IO::Async::Loop::XPoll->new(backend => 'kqueue');

The backend by name, or the best one (C<$XPOLL_BACKEND> overrides that choice). Croaks as
C<< XPoll->new >> does for a backend that is not compiled.

=head2 backend

The xpoll backend underneath.

=head2 loop_once

  $loop->loop_once($timeout);

Waits up to C<$timeout> seconds (C<undef>: until something happens), then runs what is ready, the
timers that are due and the deferred work. A signal ends the wait, and its watchers run.

=head2 watch_io, unwatch_io

As L<IO::Async::Loop> documents them.

=head2 post_fork

In a forked child that goes on using the loop: a new poller, with everything watched registered
again (a poller belongs to the process that made it).

=head2 is_running

True while C<run> is running.

=head1 SEE ALSO

L<XPoll>, L<IO::Async::Loop>, L<IO::Async::LoopTests>.

=cut
