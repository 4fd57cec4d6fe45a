use strict;
use warnings;
use Test::More;
use IO::File;
use POSIX ();
use Socket;
use XPoll qw(:all);

# A descriptor removed, closed, and its number given to a new file before the next wait: an add of
# the new file must watch the new file, with its own interest, on every backend.
for my $backend (XPoll->backends) {
  for my $kind ('socket', 'regular file') {
    my $p = XPoll->new(backend => $backend);
    socketpair(my $a, my $b, AF_UNIX, SOCK_STREAM, PF_UNSPEC) or die "socketpair: $!";
    syswrite($b, 'x');
    my $fd = fileno $a;
    $p->add($fd, IN);
    is(scalar(my @e = $p->wait(2)), 1, "$backend, $kind: the first file is readable");
    # The new file is made while the old one still holds the number, then given that number (as a
    # process would by chance, here certainly) once the old one is removed and closed.
    my ($new, $peer);
    if ($kind eq 'socket') {
      socketpair($new, $peer, AF_UNIX, SOCK_STREAM, PF_UNSPEC) or die "socketpair: $!";
      syswrite($peer, 'y');
    } else {
      $new = IO::File->new_tmpfile or die "tmpfile: $!";
      $new->print("content\n");
      $new->flush;
      seek $new, 0, 0;
    }
    $p->remove($fd);
    close $a;
    POSIX::dup2(fileno $new, $fd) == $fd or die "dup2: $!";
    if (!eval { $p->add($fd, IN | OUT); 1 }) {
      like($@, qr/XPOLL_EPERM/, "$backend, $kind: refused as the backend refuses such a file");
      POSIX::close($fd);
      next;
    }
    my @got = map { $_->[1] } $p->wait(2);
    POSIX::close($fd);
    is_deeply(\@got, [IN | OUT], "$backend, $kind: the new file is reported readable and writable");
  }
}
done_testing;
