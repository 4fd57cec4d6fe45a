use strict;
use warnings;
use Test::More;
use IO::Select;
use IO::Socket::INET;
use Time::HiRes qw(time sleep);
use XPoll;

# Drives examples/preforker.pl with concurrent loopback clients on every backend, in each way its
# workers can accept: with exclusive wake-up where the backend has it (epoll), and under the accept
# lock (flock) elsewhere and with --accept-lock. Every reply is checked, workers are replaced when
# they spend their budget, and SIGINT leaves no process and no lock file behind.
my $workers = 3;
my $budget  = 10;
my $rounds  = 2;
my $clients = $workers * $budget;    # per round: every worker's whole budget

sub read_line {
  my ($fh, $deadline) = @_;
  my $sel  = IO::Select->new($fh);
  my $line = '';
  while (time < $deadline) {
    last unless $sel->can_read($deadline - time);
    my $n = sysread($fh, my $c, 1);
    return undef unless $n;
    $line .= $c;
    return $line if $c eq "\n";
  }
  return undef;
}

my @runs;
for my $backend (XPoll->backends) {
  my $exclusive = grep { $_ eq 'exclusive' } XPoll->backend_capabilities($backend);
  push @runs, [$backend, $exclusive ? 'exclusive' : 'lock', ()];
  push @runs, [$backend, 'lock', '--accept-lock'] if $exclusive;
}

for my $run (@runs) {
  my ($backend, $mode, @flags) = @$run;
  subtest "$backend, accept: $mode" . (@flags ? " (@flags)" : '') => sub {
    my $pid = open(my $out, '-|', $^X, (map { "-I$_" } @INC), 'examples/preforker.pl',
                   '--workers', $workers, '--budget', $budget, '--backend', $backend, @flags)
      // die "cannot start the server: $!";
    my $deadline = time + 60;
    my $first = read_line($out, $deadline) // '';
    my ($port) = $first =~ /listening on 127\.0\.0\.1:(\d+)/ or die "server said: $first";
    chomp(my $how = read_line($out, $deadline) // '');
    my $lock_file;
    if ($mode eq 'exclusive') {
      is($how, 'accept: exclusive wake-up', 'the workers accept with exclusive wake-up');
    } else {
      ($lock_file) = $how =~ /^accept: lock (.+)$/;
      ok(defined $lock_file && -e $lock_file, "the workers take turns under a lock: $how");
    }
    my (%started, %bad);
    my $served = 0;
    for my $round (1 .. $rounds) {
      # All of this round's clients connected at once, then each sends two lines.
      my @socks = map {
        IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Timeout => 10)
          // die "connect: $!"
      } 1 .. $clients;
      for my $i (0 .. $#socks) {
        for my $k (1, 2) {
          my $line = "round $round client $i line $k\n";
          syswrite($socks[$i], $line);
          my $reply = read_line($socks[$i], $deadline) // '';
          if ($reply =~ /^(\d+) \Q$line\E\z/) {
            $served++ if $k == 2;
            $started{$1}++;
          } else {
            $bad{"$round/$i/$k"} = $reply;
          }
        }
      }
      close $_ for @socks;
    }
    # A client that pipelines: 3,000 lines sent before any reply is read, so
    # that the server's replies outgrow the socket buffers and must wait.
    my $pipe = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Timeout => 10) // die "connect: $!";
    my $lines = join '', map { "pipelined $_ " . ('x' x 100) . "\n" } 1 .. 3000;
    my $writer = fork // die "fork: $!";
    if ($writer == 0) {    # writes while the parent reads, as a real client would
      syswrite($pipe, $lines) == length $lines or exit 1;
      exit 0;
    }
    my $replies = 0;
    my $bad_pipe = 0;
    for my $k (1 .. 3000) {
      my $reply = read_line($pipe, $deadline) // last;
      $reply =~ /^\d+ pipelined $k x{100}\n\z/ ? $replies++ : $bad_pipe++;
    }
    waitpid($writer, 0);
    close $pipe;
    is($replies, 3000, 'a pipelining client got every reply, in order');
    is($bad_pipe, 0, '... none of them wrong');

    is($served, $rounds * $clients, "every client got both replies ($served)");
    is_deeply(\%bad, {}, 'no reply was wrong');
    ok(keys(%started) > $workers, 'workers were replaced after spending their budget: ' . keys(%started) . ' served');

    kill 'INT', $pid;
    my @log;
    while (defined(my $line = read_line($out, $deadline))) { push @log, $line }
    close $out;
    is($?, 0, 'the server exited cleanly on SIGINT');
    like($log[-1] // '', qr/^stopped$/, 'and said so');
    ok(!-e $lock_file, 'the lock file is gone') if defined $lock_file;
    my @all = map { /^worker (\d+) started/ ? $1 : () } $first, @log;
    push @all, keys %started;
    my @alive = grep { kill 0, $_ } @all;
    is_deeply(\@alive, [], 'no worker is left behind');
  };
}
done_testing;
