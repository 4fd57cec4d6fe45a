#!/usr/bin/perl
# The classic pre-forking server, with XPoll. A parent keeps a pool of worker
# processes that share one listening socket; each worker serves many clients
# at once through one XPoll poller (a line-echo protocol: each line comes back
# prefixed with the worker's pid) and exits after serving a budget of clients.
# The parent replaces workers as they exit and, on SIGINT or SIGTERM, stops
# them all and exits cleanly.
#
# Every idle worker watching the listener would wake for every connection, and
# all but one would find nothing to accept (the thundering herd). Where the
# backend has exclusive wake-up (epoll), each worker's poller watches the
# listener with it, and a connection wakes one worker. Elsewhere, or with
# --accept-lock, the workers take turns as the classic pre-forking servers do:
# only the worker that holds a lock (flock on a temporary file) watches the
# listener, and it lets the lock go once it has accepted what was there.
#
#   perl examples/preforker.pl [--port N] [--workers N] [--budget N] [--backend NAME] [--accept-lock]
#
# It prints "listening on 127.0.0.1:PORT", then how the workers accept
# ("accept: exclusive wake-up" or "accept: lock FILE"), then "worker PID
# started/exited".
use strict;
use warnings;

use Errno qw(EAGAIN EINTR EWOULDBLOCK);
use Fcntl qw(:flock);
use File::Temp qw(tempfile);
use Getopt::Long qw(GetOptions);
use IO::Socket::INET;
use POSIX qw(WNOHANG);
use Time::HiRes qw(sleep time);
use XPoll qw(IN OUT);

my %opt = (port => 0, workers => 4, budget => 100, backend => undef, 'accept-lock' => 0);
GetOptions(\%opt, 'port=i', 'workers=i', 'budget=i', 'backend=s', 'accept-lock')
  or die "usage: $0 [--port N] [--workers N] [--budget N] [--backend NAME] [--accept-lock]\n";
die "--workers and --budget must be positive\n" unless $opt{workers} > 0 && $opt{budget} > 0;

# The backend the workers will have ($XPOLL_BACKEND or the best one, unless named), and whether it
# has exclusive wake-up. A poller belongs to the process that made it: this one is only asked.
my $exclusive = do {
  my $probe = XPoll->new(backend => $opt{backend});
  !$opt{'accept-lock'} && grep { $_ eq 'exclusive' } $probe->capabilities;
};
my $parent = $$;
my $lock_path;
if (!$exclusive) {
  (undef, $lock_path) = tempfile('xpoll-preforker-XXXXXX', TMPDIR => 1);
}
END { unlink $lock_path if defined $lock_path && $$ == $parent }

my $listener = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $opt{port}, Listen => 1024,
                                     ReuseAddr => 1, Blocking => 0)
  or die "cannot listen on 127.0.0.1:$opt{port}: $!\n";
$| = 1;
print "listening on 127.0.0.1:", $listener->sockport, "\n";
print $exclusive ? "accept: exclusive wake-up\n" : "accept: lock $lock_path\n";

my %workers;
my $stopping = 0;
$SIG{INT} = $SIG{TERM} = sub { $stopping = 1 };

sub spawn {
  my $pid = fork;
  die "fork: $!\n" unless defined $pid;
  if ($pid == 0) {
    $SIG{INT} = $SIG{TERM} = 'DEFAULT';
    exit(worker());
  }
  $workers{$pid} = 1;
  print "worker $pid started\n";
}

# One worker: accepts until its budget is used, serves every client it took,
# and exits when the last of them has gone. Replies that do not fit in a
# client's socket wait in its output buffer, watched for OUT until written.
sub worker {
  my $poller = XPoll->new(backend => $opt{backend});
  my ($accepted, $open) = (0, 0);
  # Under the accept lock: each worker opens the file itself (a lock belongs to an open file, which
  # a forked child would share with its parent), and watches the listener only while it holds it.
  my ($lock, $locked);
  if ($exclusive) {
    $poller->add($listener, IN, 'listener', exclusive => 1);
  } else {
    open($lock, '<', $lock_path) or die "worker $$: $lock_path: $!\n";
  }
  my $take_turn = sub {
    # A worker with no client blocks until its turn; one with clients only tries, and tries again
    # after its next wait. A signal ends a blocking flock (EINTR): the loop comes round again.
    return if $locked || $accepted >= $opt{budget};
    flock($lock, $open ? LOCK_EX | LOCK_NB : LOCK_EX) or return;
    $locked = 1;
    $poller->add($listener, IN, 'listener');
  };
  my $end_turn = sub {
    return unless $locked;
    $poller->remove($listener);
    flock($lock, LOCK_UN);
    $locked = 0;
  };
  my (%in, %out);
  my $drop = sub {
    my ($fh) = @_;
    $poller->remove($fh);
    delete $in{ fileno $fh };
    delete $out{ fileno $fh };
    close $fh;
    $open--;
  };
  while ($accepted < $opt{budget} || $open > 0) {
    $take_turn->() if $lock;
    # Without the lock and with budget left, look again for the lock soon.
    my $timeout = $lock && !$locked && $accepted < $opt{budget} ? 0.05 : 1;
    for my $ev ($poller->wait($timeout)) {
      my ($fh, $events, $what) = @$ev;
      if ($what eq 'listener') {
        while ($accepted < $opt{budget}) {
          my $client = $listener->accept or last;    # another worker may have taken it
          $client->blocking(0);
          $poller->add($client, IN, 'client');
          $accepted++;
          $open++;
        }
        if ($lock) {
          $end_turn->();                             # the next connections are another worker's
        } elsif ($accepted >= $opt{budget}) {
          $poller->remove($listener);
        }
        next;
      }
      my $fd = fileno $fh;
      if ($events & IN) {
        my $n = sysread($fh, my $chunk, 4096);
        if (defined $n && $n == 0) {
          $drop->($fh);
          next;
        }
        if (!defined $n && $! != EAGAIN && $! != EWOULDBLOCK && $! != EINTR) {
          $drop->($fh);
          next;
        }
        $in{$fd} .= $chunk if $n;
        $out{$fd} .= "$$ $1" while $in{$fd} =~ s/\A([^\n]*\n)//;
        if (length $in{$fd} > 65536) {    # a line that never ends: not a client of ours
          $drop->($fh);
          next;
        }
      }
      next unless length($out{$fd} // '');
      my $w = syswrite($fh, $out{$fd});
      if (!defined $w && $! != EAGAIN && $! != EWOULDBLOCK && $! != EINTR) {
        $drop->($fh);
        next;
      }
      substr($out{$fd}, 0, $w // 0) = '';
      # Watch for room to write only while something waits to be written.
      $poller->modify($fh, length $out{$fd} ? IN | OUT : IN);
    }
  }
  return 0;
}

spawn() for 1 .. $opt{workers};
while (!$stopping) {
  while ((my $pid = waitpid(-1, WNOHANG)) > 0) {
    next unless delete $workers{$pid};
    print "worker $pid exited (status $?)\n";
    spawn() unless $stopping;
  }
  sleep 0.05;
}

# Stop: TERM every worker, wait up to 5 s, then KILL what is left; reap all.
kill 'TERM', keys %workers;
my $deadline = time + 5;
while (%workers && time < $deadline) {
  while ((my $pid = waitpid(-1, WNOHANG)) > 0) {
    print "worker $pid stopped\n" if delete $workers{$pid};
  }
  sleep 0.02 if %workers;
}
if (%workers) {
  kill 'KILL', keys %workers;
  waitpid($_, 0) for keys %workers;
}
print "stopped\n";
exit 0;
