use strict;
use warnings;
use Test::More;
use File::Copy qw(copy);
use File::Path qw(make_path);
use File::Temp qw(tempdir);

# Where XPoll finds libxpoll, and what it says when it cannot: each case in a fresh perl.
my $lib = $ENV{XPOLL_LIBRARY};
plan skip_all => 'XPOLL_LIBRARY names the build under test' unless $lib && -e $lib;

sub run_perl {
  my ($inc, %env) = @_;
  local %ENV = %ENV;
  delete @ENV{qw(XPOLL_LIBRARY LD_LIBRARY_PATH)};
  @ENV{ keys %env } = values %env;
  my $out = qx{$^X -I$inc -e 'use XPoll; print XPoll::version()' 2>&1};
  return ($? >> 8, $out);
}

my ($rc, $out) = run_perl('lib', XPOLL_LIBRARY => '/nonexistent/libxpoll.so.1');
isnt($rc, 0, 'a missing XPOLL_LIBRARY fails');
like($out, qr{XPOLL_LIBRARY=/nonexistent/libxpoll\.so\.1 does not exist}, '... and says so');

my $dir = tempdir(CLEANUP => 1);
make_path("$dir/XPoll");
copy('lib/XPoll.pm', "$dir/XPoll.pm") or die $!;
copy('lib/XPoll/Poll.pm', "$dir/XPoll/Poll.pm") or die $!;
($rc, $out) = run_perl($dir);
if ($rc == 0) {
  pass('found on the system (installed): nothing more to say');
} else {
  like($out, qr/cannot find the xpoll C library.*beside the module.*XPOLL_LIBRARY/s, 'not found: every place named');
}
copy($lib, "$dir/libxpoll.so.1") or die $!;
($rc, $out) = run_perl($dir);
is($rc, 0, 'a library beside XPoll.pm is found') or diag($out);
like($out, qr/^1\./, '... and loads');
done_testing;
