package XPoll;

use strict;
use warnings;

use Carp qw(croak);
use Errno ();
use File::Basename qw(dirname);
use File::Spec;
use Scalar::Util qw(looks_like_number openhandle);

our $VERSION;
BEGIN { $VERSION = '1.00' }

# The calls into the library are XS (XPoll.xs); the constants are the header's, as XPoll.xs was
# compiled against it (t/03-header.t checks that nothing of the header is missing here).
our %C;
BEGIN {
  require XSLoader;
  XSLoader::load('XPoll', $VERSION);
  %C = _constants();
}

use constant {
  IN        => $C{XPOLL_IN},
  PRI       => $C{XPOLL_PRI},
  OUT       => $C{XPOLL_OUT},
  ERR       => $C{XPOLL_ERR},
  HUP       => $C{XPOLL_HUP},
  RDHUP     => $C{XPOLL_RDHUP},
  ONESHOT   => $C{XPOLL_ONESHOT},
  EDGE      => $C{XPOLL_EDGE},
  EXCLUSIVE => $C{XPOLL_EXCLUSIVE},
  SHARED    => $C{XPOLL_SHARED},
};

use Exporter qw(import);
our @EXPORT_OK   = qw(IN PRI OUT ERR HUP RDHUP ONESHOT EDGE EXCLUSIVE SHARED);
our %EXPORT_TAGS = (all => \@EXPORT_OK);

my %MODE = (level => 0, oneshot => ONESHOT, edge => EDGE);

# What Perl calls each capability bit and each error code: every XPOLL_CAP_* and XPOLL_E* of the
# header has its entry (t/03-header.t). An error code without an errno of its own sets $! to EIO.
our %CAP_NAME = (XPOLL_CAP_ONESHOT => 'oneshot', XPOLL_CAP_EDGE => 'edge', XPOLL_CAP_RDHUP => 'rdhup',
                 XPOLL_CAP_NONSOCKET => 'nonsocket', XPOLL_CAP_UNBOUNDED => 'unbounded',
                 XPOLL_CAP_LIVE_CHANGES => 'live_changes', XPOLL_CAP_HANGUP => 'hangup',
                 XPOLL_CAP_EXCLUSIVE => 'exclusive', XPOLL_CAP_NS_TIMEOUT => 'ns_timeout', XPOLL_CAP_PRI => 'pri',
                 XPOLL_CAP_FD => 'fd');
our %ERRNO_OF = (XPOLL_EINVAL => 'EINVAL', XPOLL_EBADF => 'EBADF', XPOLL_EEXIST => 'EEXIST',
                 XPOLL_ENOENT => 'ENOENT', XPOLL_ENOMEM => 'ENOMEM', XPOLL_ENOTSUP => 'ENOTSUP',
                 XPOLL_ENOBACKEND => undef, XPOLL_EBUSY => 'EBUSY', XPOLL_EINTR => 'EINTR',
                 XPOLL_ERANGE => 'ERANGE', XPOLL_EMFILE => 'EMFILE', XPOLL_ENFILE => 'ENFILE',
                 XPOLL_EFORKED => undef, XPOLL_EPERM => 'EPERM', XPOLL_EIO => 'EIO');
my %CAP   = map { $C{$_} => $CAP_NAME{$_} } keys %CAP_NAME;
my %ERRNO = map { $C{$_} => _errno($ERRNO_OF{$_}) } grep { defined $ERRNO_OF{$_} } keys %ERRNO_OF;
use constant { _ENOBACKEND => $C{XPOLL_ENOBACKEND} };

sub _errno {
  my ($name) = @_;
  return Errno::EOPNOTSUPP() if $name eq 'ENOTSUP' && !defined eval { Errno::ENOTSUP() };
  return Errno->can($name)->();
}

# ---- the library ------------------------------------------------------------------------------------

# How this build was made (written by Makefile.PL): where the library it built or found is.
my %BUILD = eval { require XPoll::BuildInfo; %XPoll::BuildInfo::INFO };
my @LOOKED;

# The library's path: $XPOLL_LIBRARY, the copy installed beside this module's XS object
# (auto/XPoll/), beside XPoll.pm, the installed library Makefile.PL found, then the system's.
sub _library {
  if (defined(my $env = $ENV{XPOLL_LIBRARY})) {
    croak "XPoll: XPOLL_LIBRARY=$env does not exist" unless -e $env;
    return $env;
  }
  my @dirs;
  push @dirs, map { dirname($_) } grep { m{[\\/]auto[\\/]XPoll[\\/]XPoll\.\w+$} } @DynaLoader::dl_shared_objects;
  my $here = dirname(File::Spec->rel2abs(__FILE__));
  push @dirs, $here, File::Spec->catdir($here, 'XPoll');
  for my $dir (@dirs) {
    for my $name (qw(libxpoll.so.1 libxpoll.1.dylib)) {
      my $path = File::Spec->catfile($dir, $name);
      return $path if -e $path;
      push @LOOKED, "beside the module: $path";
    }
  }
  if (my $installed = $BUILD{library}) {
    return $installed if -e $installed;
    push @LOOKED, "the installed library found when XPoll was built: $installed";
  }
  push @LOOKED, "the system's library path (libxpoll.so.1: ld.so.cache, LD_LIBRARY_PATH)";
  return 'libxpoll.so.1';
}

{
  my $path = _library();
  eval { _load($path); 1 } or do {
    my $err = $@;
    croak $err unless $path eq 'libxpoll.so.1';
    croak "XPoll: cannot find the xpoll C library (libxpoll.so.1). Looked at:\n  " . join("\n  ", @LOOKED) .
      "\nSet XPOLL_LIBRARY to its path, put it beside XPoll.pm, or install it";
  };
}

# The library in use, as the dynamic loader opened it.
sub library { _loaded_from() }

sub _fail {
  my ($what, $rc, $fd) = @_;
  my $where = defined $fd ? " (descriptor $fd)" : '';
  my $msg   = sprintf "XPoll: %s%s: %s (%s)", $what, $where, _strerror($rc), _errname($rc);
  $! = $ERRNO{$rc} // Errno::EIO();    # not local: the caller reads it after the croak
  croak $msg;
}

sub CLONE_SKIP { 1 }    # a poller belongs to the interpreter (and process) that made it

# ---- class methods ----------------------------------------------------------------------------------

sub backend_capabilities {
  my ($class, $name) = @_;
  my $bits = _backend_caps($name // '');
  croak "XPoll: no backend '" . ($name // '') . "' is compiled in (compiled: " . join(', ', backends()) . ")"
    if $bits == _ENOBACKEND;
  return _cap_names($bits);
}

sub _cap_names {
  my ($bits) = @_;
  return sort map { $CAP{$_} } grep { $bits & $_ } keys %CAP;
}

sub limits {
  my @fields = _read_limits();
  my %out;
  for my $name (_limit_names()) {
    my ($source, $value, $infinite) = splice @fields, 0, 3;
    $out{$name} = { source => $source, value => $infinite ? 'unlimited' : $value };
  }
  return \%out;
}

# ---- a poller ---------------------------------------------------------------------------------------

sub new {
  my ($class, %opt) = @_;
  _check_options('new', \%opt, 'backend', 'shared');
  my $backend = $opt{backend};
  my $self = _create($class, $backend, $opt{shared} ? SHARED : 0);
  return $self if ref $self;
  if ($self == _ENOBACKEND) {
    my $name = $backend // $ENV{XPOLL_BACKEND} // '';
    croak "XPoll: no backend '$name' is compiled in (compiled: " . join(', ', backends()) . ")";
  }
  _fail('new', $self);
}

sub capabilities { _cap_names(_caps($_[0])) }

# A descriptor number from a filehandle (glob, IO::Handle) or a number.
sub _fd {
  my ($what, $fh) = @_;
  _croak_errno(Errno::EINVAL(), "XPoll: $what: a filehandle or descriptor number is required") unless defined $fh;
  if (!ref $fh && looks_like_number($fh)) {
    _croak_errno(Errno::EBADF(), "XPoll: $what: invalid descriptor $fh")
      if $fh < 0 || $fh != int($fh) || $fh > 0x7fffffff;
    return int($fh);
  }
  # CORE::: this package has a fileno method of its own (the poller's descriptor).
  my $fd = openhandle($fh) ? CORE::fileno($fh) : undef;
  _croak_errno(Errno::EBADF(), "XPoll: $what: not an open filehandle") unless defined $fd && $fd >= 0;
  return $fd;
}

# Croaks with $! set as the C library's code for the same misuse would set it. It is set last, after
# anything (fileno, a tied handle's FILENO, openhandle) that may have left another errno behind.
sub _croak_errno {
  my ($errno, $msg) = @_;
  $! = $errno;    # not local: the caller reads it after the croak
  croak $msg;
}

# Named options: a list of name => value pairs, each name one the method knows (XPOLL_EINVAL semantics:
# the call is refused, nothing changes, and the message names what was not understood).
sub _options {
  my ($what, $pairs, @known) = @_;
  _croak_errno(Errno::EINVAL(), "XPoll: $what: options must be name => value pairs") if @$pairs % 2;
  my %opt = @$pairs;
  _check_options($what, \%opt, @known);
  return \%opt;
}

sub _check_options {
  my ($what, $opt, @known) = @_;
  my %known   = map { $_ => 1 } @known;
  my @unknown = sort grep { !$known{$_} } keys %$opt;
  _croak_errno(Errno::EINVAL(), "XPoll: unknown option(s) to $what: " . join(', ', @unknown) .
    " (known: " . join(', ', @known) . ")") if @unknown;
  return;
}

# The C mask of an add or modify: the events, with the mode and exclusive options given.
sub _mask {
  my ($what, $events, $opt) = @_;
  my $mode = $opt->{mode};
  croak "XPoll: $what: events must be a number" unless defined $events && looks_like_number($events);
  croak "XPoll: $what: invalid event mask $events" if $events < 0 || $events != int($events) || $events > 0xffffffff;
  if (defined $mode) {
    croak "XPoll: $what: mode must be level, oneshot or edge, not '$mode'" unless exists $MODE{$mode};
    $events |= $MODE{$mode};
  }
  $events |= EXCLUSIVE if $opt->{exclusive};
  return $events;
}

# add, modify, remove and wait are XS (XPoll.xs); these are their slow paths, for what is not a
# filehandle or descriptor number with a numeric mask and no options: they validate, croak with $!
# set, and call the raw XS calls.
sub _add_slow {
  my ($self, $fh, $events, $data, @opt) = @_;
  my $opt = _options('add', \@opt, 'mode', 'exclusive');
  my $fd  = _fd('add', $fh);
  $self->_add_fd($fd, _mask('add', $events, $opt), $fh, $data);
  return $self;
}

sub _modify_slow {
  my ($self, $fh, $events, @data) = @_;
  my $opt  = _options('modify', [@data[1 .. $#data]], 'mode', 'exclusive');
  my $fd   = _fd('modify', $fh);
  my $mask = _mask('modify', $events, $opt);
  $self->_modify_fd($fd, $mask, @data ? $data[0] : ());
  return $self;
}

sub _remove_slow {
  my ($self, $fh) = @_;
  return $self->_remove_fd(_fd('remove', $fh));
}

# The wait, as an array reference, or undef with $! EINTR when a signal came and $interruptible.
sub _wait_events {
  my ($self, $timeout, $max, $interruptible) = @_;
  return [$self->wait($timeout, $max)] unless $interruptible;
  my @flat = $self->_wait_fds($timeout, $max, 1);
  return undef if @flat == 1 && !defined $flat[0];
  my @out;
  push @out, [splice @flat, 0, 2] while @flat;
  return \@out;
}

1;

__END__

=head1 NAME

XPoll - every xpoll backend (epoll, kqueue, poll, select) from Perl

=head1 SYNOPSIS

  use XPoll qw(:all);

  my $poller = XPoll->new;                       # the best backend; or backend => 'poll'
  $poller->add($socket, IN, { name => 'client 1' });
  $poller->add($listener, IN, 'listener', mode => 'oneshot');
  for my $ev ($poller->wait(1.5)) {              # seconds; undef waits until something happens
    my ($fh, $events, $data) = @$ev;
    ...
  }
  $poller->modify($socket, IN | OUT);            # data kept unless given
  $poller->remove($socket);

  # Workers (processes) sharing one listening socket, each with its own poller: a connection wakes
  # one of them, not all, where the backend can (epoll).
  my $exclusive = grep { $_ eq 'exclusive' } $poller->capabilities;
  $poller->add($listener, IN, 'listener', exclusive => 1) if $exclusive;

  # Code written for IO::Poll moves over by changing its constructor:
  use XPoll::Poll;
  my $poll = XPoll::Poll->new(backend => 'epoll');

=head1 DESCRIPTION

XPoll drives the xpoll C library through a small XS module: C<add>, C<modify>, C<remove> and
C<wait> are one XS call each, checked and translated in C; what they are not given in the common
form (a filehandle or descriptor number, a numeric mask, no options) is checked in Perl, with the
same errors. The constants come from the header the XS module was compiled against, and a test
checks them against it.

The library is opened at run time, from the first of: C<$XPOLL_LIBRARY> (a path); the copy
installed beside the XS module (F<auto/XPoll/libxpoll.so.1>, when the distribution built libxpoll
from its sources); beside F<XPoll.pm>; the installed library C<perl Makefile.PL> found (C<pkg-config
xpoll>, or C<$XPOLL_LIBRARY> at build time); the system's library path. When none is found, the
error names every place looked at.

=head2 Building

C<perl Makefile.PL> says where libxpoll will come from: an installed one (C<$XPOLL_LIBRARY>, or
C<pkg-config xpoll>), or this repository's sources (C<../..>, or C<$XPOLL_SOURCE_DIR>), built with
CMake during C<make> (with the kqueue backend when libkqueue is found in
C<$XPOLL_LIBKQUEUE_ROOT>, F</opt/libkqueue>, F</usr/local> or by pkg-config; C<XPOLL_KQUEUE=0>
leaves it out) and installed with the module. C<make install> then needs no C<LD_LIBRARY_PATH>.

=head1 METHODS

=head2 backends

  my @names = XPoll->backends;

The compiled backends, best first.

=head2 backend_capabilities

  my @caps = XPoll->backend_capabilities('poll');

What a backend can do: any of C<oneshot edge rdhup nonsocket unbounded live_changes hangup exclusive
ns_timeout pri fd>. Croaks for a backend that is not compiled. C<ns_timeout>: C<wait> honours
time-outs finer than a millisecond; C<pri>: C<PRI> can be watched; C<fd>: C<fileno> gives the
poller's descriptor.

=head2 limits

  my $limits = XPoll->limits;   # { nofile_soft => { value => 20000, source => 'getrlimit(RLIMIT_NOFILE)' }, ... }

The descriptor limits, as C<xpoll-probe> reports them. A value is C<undef> when it could not be
read, C<'unlimited'> when it is not set; a source is C<undef> when the limit does not apply on this OS.

=head2 version

The C library's version, C<"major.minor.patch">.

=head2 new

  my $poller = XPoll->new(backend => 'epoll');
  my $shared = XPoll->new(shared => 1);

Opens a backend by name, or the best one (C<$XPOLL_BACKEND> overrides that choice). Croaks for a
backend that is not compiled, naming those that are, and (EINVAL) for an option it does not know.

C<shared> (a true value) creates the poller with C<XPOLL_SHARED>: the C library then lets several
threads wait on it at once, reports a oneshot registration's event to exactly one of them per
arming, and makes C<wake> return every wait in progress. Without it, a second wait while one is in
progress fails with C<EBUSY>. From Perl alone a wait is never concurrent: a poller belongs to the
interpreter that made it (a new ithread gets no copy of it) and a C<%SIG> handler runs between the
library's waits, not inside one. So in Perl the flag changes nothing that can be seen today; it is
accepted for parity with the C API and costs nothing.

=head2 add

  $poller->add($fh_or_fd, $events, $data, mode => 'oneshot');
  $poller->add($listener, IN, $data, exclusive => 1);

Watches a filehandle or descriptor number for C<IN>, C<OUT>, C<RDHUP>, C<PRI> (C<ERR> and C<HUP> are
always reported). C<$data> is any Perl scalar, kept alive while registered and returned with each event.
The mode is C<level> (default), C<oneshot> or C<edge>, or C<ONESHOT>/C<EDGE> in C<$events>.
Croaks, with C<$!> set, for a descriptor already registered (EEXIST), closed or not a descriptor
(EBADF), or a mode the backend lacks (ENOTSUP); for an option it does not know (EINVAL, the
message names it); then nothing is registered.

C<exclusive> (a true value), or C<EXCLUSIVE> in C<$events>, asks for exclusive wake-up: of several
pollers watching the same open file with it (pre-forked workers, each with its own poller on one
listening socket), one readiness change wakes one of them, not every one. Which one is the kernel's
choice, and a wake that finds nothing (another worker took the connection) is still possible: accept
non-blocking. Only backends with the C<exclusive> capability have it (epoll); the others croak with
ENOTSUP. With the C<oneshot> mode, C<RDHUP> or C<PRI> it croaks with EINVAL: the kernel refuses them.

C<PRI> asks for priority data: TCP urgent (out-of-band) data, as C<< send($sock, '!', MSG_OOB) >>
sends it, or an exceptional condition a file announces so (a pseudo-terminal in packet mode, a Linux
sysfs attribute). It is reported as C<PRI> in the events; read urgent data with
C<< recv($sock, $buf, 1, MSG_OOB) >>. Only backends with the C<pri> capability watch it (epoll, poll,
select); the others (kqueue) croak with ENOTSUP and register nothing.

=head2 modify

  $poller->modify($fh, $events);            # keeps the data
  $poller->modify($fh, $events, $data);
  $poller->modify($fh, $events, $data, mode => 'oneshot');
  $poller->modify($fh, $events, $data, exclusive => 1);

Changes the interest (and data, and mode, as for C<add>); re-arms a oneshot registration. Croaks
(ENOENT) for one not registered, and as C<add> does for an unknown option (EINVAL) or an exclusive
wake-up the backend lacks (ENOTSUP). The new interest is the whole of it: exclusive wake-up is kept
only when asked again. A modify of an exclusive registration, or one that adds exclusive, is made as
a removal and an add in the library, so what is ready then is reported once more.

=head2 remove

  my $data = $poller->remove($fh);

Stops watching; nothing of it is reported afterwards. Returns its data. Croaks (ENOENT) for one not
registered. Remove a descriptor before closing it.

=head2 wait

  my @events = $poller->wait($timeout, $max);

Waits up to C<$timeout> seconds (C<undef>: until something happens; 0: not at all) and returns a
list of C<[$fh_or_fd, $events, $data]>, with the filehandle or number given to C<add>.

The time-out may be any fraction of a second: it is passed to the library in nanoseconds
(C<xpoll_wait_ns>), rounded up, never down, so a wait with nothing to report never returns before
it has passed. Backends with the C<ns_timeout> capability (epoll, kqueue, poll where the system has
C<ppoll>, select) ask the kernel for the time as given, so C<< $poller->wait(0.0002) >> sleeps about
200 microseconds plus the kernel's timer slack; the others round it up to whole milliseconds.

A signal does not end the wait (an C<EINTR> from the library is never seen): its C<%SIG> handler
runs, and the wait then goes on with the time left. To end the wait from the handler, call
C<wake> in it (the wait returns no events) or die in it (the wait ends with that exception).
L<XPoll::Poll>'s C<poll> differs on purpose, as L<IO::Poll>'s does: a signal makes it return -1
with C<$!> set to C<EINTR>.

=head2 wake

  $poller->wake;

Makes a C<wait> in progress return (or the next one); on a C<shared> poller, every wait in
progress. Usable from a signal handler of this process.

=head2 fileno

  my $fd = $poller->fileno;     # croaks with $! ENOTSUP where the backend has none

The poller's own descriptor, to nest it in another event loop: it is readable while a C<wait>
would report something (an event or a wake), and sometimes spuriously, so the other loop watches it
for reading and then calls C<< $poller->wait(0) >>. The same number for the poller's life. Only
backends with the C<fd> capability have one: epoll, and kqueue on macOS and the BSDs (not
libkqueue's emulation on Linux). Elsewhere it croaks, with C<$!> set to C<ENOTSUP>, as every other
failure of the library does. Watch it for reading only: never read it, close it, or add it to the
poller itself; C<close> closes it.

  my $outer = IO::Select->new($poller->fileno);
  $poller->wait(0) if $outer->can_read(1);

=head2 Constants

  use XPoll qw(:all);   # IN PRI OUT ERR HUP RDHUP ONESHOT EDGE EXCLUSIVE SHARED

The header's event bits (C<IN>, C<PRI>, C<OUT>, C<ERR>, C<HUP>, C<RDHUP>), mode bits (C<ONESHOT>, C<EDGE>),
C<EXCLUSIVE>, and the creation flag C<SHARED> (what C<< new(shared => 1) >> gives the library), with
the values the XS module was compiled with. Capabilities are names (C<capabilities>), not constants.

=head2 library

  my $path = XPoll->library;

The file the C library was loaded from.

=head2 backend, capabilities, registered

The backend's name, its capabilities, and how many descriptors are registered.

=head2 close

Destroys the poller; later calls croak. Done when the object is destroyed. A poller belongs to the
process that made it: in a forked child, create a new one.

=head1 SEE ALSO

L<XPoll::Poll>, F<examples/preforker.pl>, the xpoll documentation.

=cut
