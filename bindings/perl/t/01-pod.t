use strict;
use warnings;
use Test::More;
use Pod::Checker;

# The POD parses cleanly, and every public method of each module has its own section.
for my $module ('lib/XPoll.pm', 'lib/XPoll/Poll.pm', 'lib/IO/Async/Loop/XPoll.pm', 'lib/AnyEvent/Impl/XPoll.pm') {
  my $checker = Pod::Checker->new(-warnings => 2);
  open my $null, '>', \my $messages;
  $checker->parse_from_file($module, $null);
  is($checker->num_errors, 0, "$module: no POD errors") or diag($messages);
  open my $fh, '<', $module or die $!;
  my $text = do { local $/; <$fh> };
  my @subs = $text =~ /^sub ([a-z]\w*)/mg;
  my %documented = map { $_ => 1 } map { split /,\s*/ } $text =~ /^=head2 (.+)$/mg;
  my @missing = grep { !$documented{$_} && $_ ne 'import' } @subs;
  is_deeply(\@missing, [], "$module: every public method is documented");
}
done_testing;
