#!/usr/bin/env perl
# The pipe-ring benchmark (bench/ring's methodology: libevent's test/bench.c) from Perl: XPoll's own
# API against EV (libev), and XPoll::Poll against IO::Poll (the same script, its constructor changed).
#
# N socket pairs, each read end watched for reading. Each round renews every registration (removes it
# and adds it again, as each library's users write it), then puts one byte into A evenly spaced slots;
# every read callback reads its byte and, while writes remain, passes one byte on to the next slot.
# The round ends when all A + W bytes have been read. Renewal ("setup") and dispatch are timed apart.
#
# The libraries are measured in one run, interleaved: each pass runs every library for R rounds (after
# a warm-up) in turn; a pass's figure is the median round, and the result is the median of the passes'
# figures (this machine's wall-clock moves 20-30 % between runs). Ratios are taken within each pass.
#
#   perl -Iblib/lib -Iblib/arch bench/perl/ring.pl [--n 1000] [--active 1,100] [--writes 1000]
#        [--rounds 20] [--passes 5] [--only xpoll,ev,...] [--backend epoll]
use strict;
use warnings;
use Errno qw(EAGAIN);
use Getopt::Long;
use IO::Poll qw(POLLIN);
use List::Util qw(sum);
use Socket;
use Time::HiRes qw(time);
use XPoll qw(IN);
use XPoll::Poll;

my %opt = (n => 1000, active => '1,100', writes => 1000, rounds => 20, passes => 5, warmup => 2);
GetOptions(\%opt, 'n=i', 'active=s', 'writes=i', 'rounds=i', 'passes=i', 'warmup=i', 'only=s', 'backend=s')
  or die "usage: $0 [--n N] [--active 1,100] [--writes W] [--rounds R] [--passes P] [--only names] [--backend b]\n";
my $have_ev = eval { require EV; 1 };

# ---- the ring ---------------------------------------------------------------------------------------

my (@rh, @feed, @fdslot);    # slot k: its read handle, the handle that feeds it; fd -> slot
for my $k (0 .. $opt{n} - 1) {
  socketpair(my $r, my $w, AF_UNIX, SOCK_STREAM, PF_UNSPEC) or die "socketpair: $! (raise ulimit -n)\n";
  $_->blocking(0) for $r, $w;
  push @rh, $r;
  push @feed, $w;
  $fdslot[fileno $r] = $k;
}
my ($reads, $writes_left, $spurious, $failures) = (0, 0, 0, 0);
my @fed;    # for the floor: the slots written to, in order

# The read callback every library calls: reads the slot's byte, passes one on.
sub readable {
  my ($k) = @_;
  my $got = sysread($rh[$k], my $buf, 1);
  if (!defined $got) {
    $! == EAGAIN ? $spurious++ : $failures++;
    return;
  }
  $reads++;
  if ($writes_left > 0) {
    $writes_left--;
    syswrite($feed[($k + 1) % @rh], 'e') == 1 or $failures++;
    push @fed, ($k + 1) % @rh;
  }
}

# ---- the libraries: open (register all), renew, dispatch (one wait and its callbacks), close ----------

my %impl;
# The floor: no poller at all, the slots read in the order they were written to. What is left is the
# benchmark's own reads and writes (and Perl's loop), which every library pays.
$impl{floor} = {
  label    => 'floor (no poller)',
  open     => sub { [] },
  renew    => sub { },
  dispatch => sub {
    my @now = @fed;
    @fed = ();
    readable($_) for @now;
  },
  close => sub { },
};
$impl{xpoll} = {
  label => 'XPoll',
  open  => sub {
    my $x = XPoll->new($opt{backend} ? (backend => $opt{backend}) : ());
    $x->add($rh[$_], IN, $_) for 0 .. $#rh;
    return $x;
  },
  renew => sub {
    my ($x) = @_;
    for my $k (0 .. $#rh) {
      $x->remove($rh[$k]);
      $x->add($rh[$k], IN, $k);
    }
  },
  dispatch => sub {
    my ($x) = @_;
    readable($_->[2]) for $x->wait(5);
  },
  close => sub { $_[0]->close },
};
$impl{xpoll_poll} = {
  label => 'XPoll::Poll',
  open  => sub {
    my $p = XPoll::Poll->new($opt{backend} ? (backend => $opt{backend}) : ());
    $p->mask($_ => POLLIN) for @rh;
    return $p;
  },
  renew    => \&renew_iopoll,
  dispatch => \&dispatch_iopoll,
  close    => sub { },
};
$impl{iopoll} = {
  label => 'IO::Poll',
  open  => sub {
    my $p = IO::Poll->new;
    $p->mask($_ => POLLIN) for @rh;
    return $p;
  },
  renew    => \&renew_iopoll,
  dispatch => \&dispatch_iopoll,
  close    => sub { },
};

# The IO::Poll idiom, the same for both.
sub renew_iopoll {
  my ($p) = @_;
  for my $h (@rh) {
    $p->remove($h);
    $p->mask($h => POLLIN);
  }
}

sub dispatch_iopoll {
  my ($p) = @_;
  $p->poll(5);
  readable($fdslot[fileno $_]) for $p->handles(POLLIN);
}

if ($have_ev) {
  # EV's own idiom for a renewal: stop the watcher and start it again (libev folds the pair into no
  # system call). ev_new: a new watcher each time, as code that drops and makes watchers does.
  $impl{ev} = {
    label => 'EV (stop, start)',
    open  => sub {
      my @w = map { my $k = $_; EV::io($rh[$k], EV::READ(), sub { readable($k) }) } 0 .. $#rh;
      return \@w;
    },
    renew => sub {
      for my $w (@{ $_[0] }) {
        $w->stop;
        $w->start;
      }
    },
    dispatch => sub { EV::run(EV::RUN_ONCE()) },
    close    => sub { $_->stop for @{ $_[0] } },
  };
  $impl{ev_new} = {
    label => 'EV (new watcher)',
    open  => $impl{ev}{open},
    renew => sub {
      my ($w) = @_;
      for my $k (0 .. $#rh) {
        $w->[$k]->stop;
        $w->[$k] = EV::io($rh[$k], EV::READ(), sub { readable($k) });
      }
    },
    dispatch => $impl{ev}{dispatch},
    close    => $impl{ev}{close},
  };
}

my @order = grep { $impl{$_} } qw(xpoll ev ev_new xpoll_poll iopoll floor);
@order = grep { my $n = $_; grep { $_ eq $n } split /,/, $opt{only} } @order if $opt{only};

# ---- running ----------------------------------------------------------------------------------------

# One round: renew, then feed A slots and dispatch until every byte is read. Returns (setup, dispatch)
# in microseconds.
sub round {
  my ($im, $h, $active) = @_;
  ($reads, $writes_left, $spurious, @fed) = (0, $opt{writes}, 0);
  my $t0 = time;
  $im->{renew}->($h);
  my $t1 = time;
  my $space = int(@rh / $active);
  for my $k (map { $_ * $space } 0 .. $active - 1) {
    syswrite($feed[$k], 'e');
    push @fed, $k;
  }
  my $want  = $active + $opt{writes};
  my $limit = time + 30;
  $im->{dispatch}->($h) while $reads < $want && time < $limit;
  my $t2 = time;
  die "$im->{label}: $reads of $want bytes read in 30 s\n" if $reads < $want;
  die "$im->{label}: $failures reads or writes failed\n"   if $failures;
  return (($t1 - $t0) * 1e6, ($t2 - $t1) * 1e6);
}

sub median {
  my @s = sort { $a <=> $b } @_;
  return @s % 2 ? $s[$#s / 2] : ($s[@s / 2 - 1] + $s[@s / 2]) / 2;
}

printf "# perl %vd, XPoll %s (%s), EV %s, IO::Poll %s; N=%d, W=%d, %d rounds (+%d warm-up) x %d passes, interleaved\n",
  $^V, XPoll::version(), XPoll->new($opt{backend} ? (backend => $opt{backend}) : ())->backend,
  ($have_ev ? $EV::VERSION . ' (' . ({ map { (EV->can("BACKEND_$_") ? EV->can("BACKEND_$_")->() : -1) => lc } qw(EPOLL POLL SELECT KQUEUE) }->{ EV::backend() } // EV::backend()) . ')' : 'absent'),
  $IO::Poll::VERSION, $opt{n}, $opt{writes}, $opt{rounds}, $opt{warmup}, $opt{passes};
printf "%-6s %-18s %11s %11s %11s   %s\n", 'active', 'library', 'setup us', 'dispatch us', 'round us', 'round per pass (us)';
my %ratio;
for my $active (split /,/, $opt{active}) {
  my %pass;    # name -> [ [setup, dispatch, total] per pass ]
  for my $p (1 .. $opt{passes}) {
    for my $name (@order) {
      my $im = $impl{$name};
      my $h  = $im->{open}->();
      round($im, $h, $active) for 1 .. $opt{warmup};
      my (@s, @d);
      for (1 .. $opt{rounds}) {
        my ($s, $d) = round($im, $h, $active);
        push @s, $s;
        push @d, $d;
      }
      $im->{close}->($h);
      undef $h;
      push @{ $pass{$name} }, [median(@s), median(@d), median(map { $s[$_] + $d[$_] } 0 .. $#s)];
    }
  }
  for my $name (@order) {
    my @p = @{ $pass{$name} };
    printf "%-6d %-18s %11.0f %11.0f %11.0f   %s\n", $active, $impl{$name}{label}, median(map { $_->[0] } @p),
      median(map { $_->[1] } @p), median(map { $_->[2] } @p), join(' ', map { sprintf '%.0f', $_->[2] } @p);
  }
  for ([xpoll => 'ev'], [xpoll => 'ev_new'], [xpoll_poll => 'iopoll']) {
    my ($a, $b) = @$_;
    next unless $pass{$a} && $pass{$b};
    my @r = map { $pass{$a}[$_][2] / $pass{$b}[$_][2] } 0 .. $opt{passes} - 1;
    my @rs = map { $pass{$a}[$_][0] / $pass{$b}[$_][0] } 0 .. $opt{passes} - 1;
    printf "%-6d %-18s round %.2f (per pass: %s); setup %.2f\n", $active, "$impl{$a}{label} / $impl{$b}{label}",
      median(@r), join(' ', map { sprintf '%.2f', $_ } @r), median(@rs);
  }
}
