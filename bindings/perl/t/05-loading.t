use strict;
use warnings;
use Test::More;
use Cwd qw(abs_path);
use File::Copy qw(copy);
use File::Find qw(find);
use File::Path qw(make_path);
use File::Temp qw(tempdir);
use XPoll;
use XPoll::BuildInfo;

# Where XPoll finds libxpoll, and what it says when it cannot: each case in a fresh perl, without
# LD_LIBRARY_PATH.
my @inc = map { abs_path($_) // $_ } grep { !ref && -d } @INC;

sub run_perl {
  my ($inc, %env) = @_;
  local %ENV = %ENV;
  delete @ENV{qw(XPOLL_LIBRARY LD_LIBRARY_PATH PERL5LIB)};
  @ENV{ keys %env } = values %env;
  my $flags = join ' ', map {"-I$_"} @$inc;
  my $out = qx{$^X $flags -MXPoll -e 'print XPoll::version(), " ", XPoll->library' 2>&1};
  return ($? >> 8, $out);
}

my $built = XPoll->library;
my %info  = %XPoll::BuildInfo::INFO;
if ($info{from} eq 'source') {
  like($built, qr{/auto/XPoll/libxpoll\.so\.1$}, "built from the sources ($info{source}): the copy beside the XS object");
} else {
  is(abs_path($built), abs_path($info{library}), "an installed library ($info{found_by}): $info{library}");
}

my ($rc, $out) = run_perl(\@inc);
is($rc, 0, 'found without XPOLL_LIBRARY or LD_LIBRARY_PATH') or diag($out);
like($out, qr/^1\.\d+\.\d+ \Q$built\E$/, '... the same library');

($rc, $out) = run_perl(\@inc, XPOLL_LIBRARY => '/nonexistent/libxpoll.so.1');
isnt($rc, 0, 'a missing XPOLL_LIBRARY fails');
like($out, qr{XPOLL_LIBRARY=/nonexistent/libxpoll\.so\.1 does not exist}, '... and says so');

my $dir = tempdir(CLEANUP => 1);
copy($built, "$dir/libxpoll-copy.so.1") or die $!;
($rc, $out) = run_perl(\@inc, XPOLL_LIBRARY => "$dir/libxpoll-copy.so.1");
is($rc, 0, 'XPOLL_LIBRARY names another copy') or diag($out);
like($out, qr{ \Q$dir\E/libxpoll-copy\.so\.1$}, '... and that copy is the one loaded');

# The module without its library (a copy of blib without libxpoll.so.1): every place looked at is named.
SKIP: {
  skip 'built against an installed library', 2 unless $info{from} eq 'source';
  skip 'a libxpoll is installed on the system', 2 if `/sbin/ldconfig -p 2>/dev/null` =~ /libxpoll\.so\.1/;
  my ($blib) = grep { -e "$_/auto/XPoll/libxpoll.so.1" } @inc;
  my $copy = "$dir/copy";
  find({ no_chdir => 1, wanted => sub {
    (my $rel = $File::Find::name) =~ s{^\Q$blib\E}{};
    return if $rel =~ /libxpoll\.so/;
    -d $_ ? make_path("$copy$rel") : copy($_, "$copy$rel");
  } }, $blib);
  ($rc, $out) = run_perl([$copy, grep { $_ ne $blib } @inc]);
  isnt($rc, 0, 'without the library beside it, XPoll fails to load');
  like($out, qr/cannot find the xpoll C library.*beside the module.*XPOLL_LIBRARY/s, '... naming every place looked at');
}
done_testing;
