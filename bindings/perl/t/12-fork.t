use strict;
use warnings;
use Test::More;
use POSIX ();
use XPoll qw(:all);

# In a forked child, a poller made before the fork may be destroyed (the library allows it, and the
# parent's registrations do not change), before or after the child makes its own, which then works.
for my $backend (XPoll->backends) {
  for my $order ('before', 'after') {
    my $old = XPoll->new(backend => $backend);
    pipe(my $r, my $w) or die "pipe: $!";
    $old->add($r, IN);
    pipe(my $report, my $tell) or die "pipe: $!";
    my $pid = fork // die "fork: $!";
    if (!$pid) {
      close $report;
      alarm 10;
      my $new;
      undef $old if $order eq 'before';
      $new = XPoll->new(backend => $backend);
      $new->add($r, IN);
      undef $old if $order eq 'after';
      my $got = eval { scalar(my @e = $new->wait(5)) } // "error: $@";
      syswrite $tell, $got;
      POSIX::_exit(0);
    }
    close $tell;
    syswrite $w, 'x';
    my $got = '';
    1 while sysread $report, $got, 512, length $got;
    waitpid $pid, 0;
    is($got, 1, "$backend: the child's own poller works, the inherited one destroyed $order it was made");
    is(scalar(my @e = $old->wait(2)), 1, "$backend: the parent's poller still reports");
  }
}
done_testing;
