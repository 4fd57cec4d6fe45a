use strict;
use warnings;
use Test::More;

use_ok('XPoll', qw(:all));
use_ok('XPoll::Poll');
like(XPoll::version(), qr/^1\.\d+\.\d+$/, 'library version 1.x');
my @backends = XPoll->backends;
ok(@backends >= 1, "compiled backends: @backends");
diag("testing backends: " . join(' ', XPoll->backends));
done_testing;
