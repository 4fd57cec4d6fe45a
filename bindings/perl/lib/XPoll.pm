package XPoll;

use strict;
use warnings;

use Carp qw(croak);
use Errno ();
use File::Basename qw(dirname);
use File::Spec;
use FFI::CheckLib qw(find_lib);
use FFI::Platypus 2.00;
use FFI::Platypus::Buffer qw(scalar_to_buffer);
use Scalar::Util qw(looks_like_number openhandle);
use Time::HiRes ();

our $VERSION = '1.00';

use constant {
  IN      => 0x0001,
  OUT     => 0x0004,
  ERR     => 0x0008,
  HUP     => 0x0010,
  RDHUP   => 0x2000,
  ONESHOT => 0x10000,
  EDGE    => 0x20000,
};

use Exporter qw(import);
our @EXPORT_OK   = qw(IN OUT ERR HUP RDHUP ONESHOT EDGE);
our %EXPORT_TAGS = (all => \@EXPORT_OK);

my %MODE = (level => 0, oneshot => ONESHOT, edge => EDGE);
my %CAP  = (0x01 => 'oneshot', 0x02 => 'edge', 0x04 => 'rdhup', 0x08 => 'nonsocket', 0x10 => 'unbounded',
            0x20 => 'live_changes', 0x40 => 'hangup');
my %ERRNO = (-2 => Errno::EBADF(), -3 => Errno::EEXIST(), -4 => Errno::ENOENT(), -5 => Errno::ENOMEM(),
             -6 => (eval { Errno::ENOTSUP() } // Errno::EOPNOTSUPP()), -8 => Errno::EBUSY(), -9 => Errno::EINTR(),
             -10 => Errno::ERANGE(), -11 => Errno::EMFILE(), -12 => Errno::ENFILE(), -14 => Errno::EPERM(),
             -15 => Errno::EIO(), -1 => Errno::EINVAL());
use constant { _EINTR => -9, _ENOBACKEND => -7, _WAIT_MAX => 1048576 };

# ---- the library ------------------------------------------------------------------------------------

my @LOOKED;

sub _library {
  if (defined(my $env = $ENV{XPOLL_LIBRARY})) {
    croak "XPoll: XPOLL_LIBRARY=$env does not exist" unless -e $env;
    return $env;
  }
  my $here = dirname(File::Spec->rel2abs(__FILE__));
  for my $dir ($here, File::Spec->catdir($here, 'XPoll')) {
    for my $name (qw(libxpoll.so.1 libxpoll.so libxpoll.1.dylib libxpoll.dylib xpoll.dll)) {
      my $path = File::Spec->catfile($dir, $name);
      return $path if -e $path;
      push @LOOKED, "beside the module: $path";
    }
  }
  my $found = find_lib(lib => 'xpoll');
  push @LOOKED, "the system (FFI::CheckLib find_lib(lib => 'xpoll'): library paths, LD_LIBRARY_PATH)";
  return $found if $found;
  croak "XPoll: cannot find the xpoll C library (libxpoll.so.1). Looked at:\n  " . join("\n  ", @LOOKED) .
    "\nSet XPOLL_LIBRARY to its path, put it beside XPoll.pm, or install it";
}

my $ffi = FFI::Platypus->new(api => 2, lib => [_library()]);
$ffi->attach([xpoll_create               => '_create']       => ['opaque*', 'string', 'uint32'] => 'int');
$ffi->attach([xpoll_destroy              => '_destroy']      => ['opaque']                      => 'void');
$ffi->attach([xpoll_add                  => '_add']          => ['opaque', 'int', 'uint32', 'uint64'] => 'int');
$ffi->attach([xpoll_modify               => '_modify']       => ['opaque', 'int', 'uint32', 'uint64'] => 'int');
$ffi->attach([xpoll_remove               => '_remove']       => ['opaque', 'int']               => 'int');
$ffi->attach([xpoll_wait                 => '_wait']         => ['opaque', 'opaque', 'int', 'int'] => 'int');
$ffi->attach([xpoll_wake                 => '_wake']         => ['opaque']                      => 'int');
$ffi->attach([xpoll_backend              => '_backend']      => ['opaque']                      => 'string');
$ffi->attach([xpoll_capabilities         => '_caps']         => ['opaque']                      => 'uint32');
$ffi->attach([xpoll_backends             => '_backends']     => ['opaque', 'int']               => 'int');
$ffi->attach([xpoll_backend_capabilities => '_backend_caps'] => ['string']                      => 'int');
$ffi->attach([xpoll_version_string       => 'version']       => []                              => 'string');
$ffi->attach([xpoll_strerror             => '_strerror']     => ['int']                         => 'string');
$ffi->attach([xpoll_errname              => '_errname']      => ['int']                         => 'string');
$ffi->attach([xpoll_read_limits          => '_read_limits']  => ['opaque']                      => 'int');

my $EVENT_SIZE = 16;    # xpoll_event_t on POSIX: uint64 data, int fd, uint32 events

sub _fail {
  my ($what, $rc, $fd) = @_;
  my $where = defined $fd ? " (descriptor $fd)" : '';
  my $msg   = sprintf "XPoll: %s%s: %s (%s)", $what, $where, _strerror($rc), _errname($rc);
  $! = $ERRNO{$rc} // Errno::EIO();    # not local: the caller reads it after the croak
  croak $msg;
}

# ---- class methods ----------------------------------------------------------------------------------

sub backends {
  my $n     = _backends(undef, 0);
  my $buf   = "\0" x (8 * $n);
  my ($ptr) = scalar_to_buffer($buf);
  _backends($ptr, $n);
  return map { $ffi->cast('opaque' => 'string', $_) } unpack("Q$n", $buf);
}

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
  # xpoll_limits_t: uint32 size, uint32 reserved, then eleven { int64 value; const char *source; }.
  my @names = qw(nofile_soft nofile_hard nr_open file_max files_in_use maxfilesperproc open_max fd_setsize
                 stdio_max open_now ephemeral_ports);
  my $size  = 8 + 16 * @names;
  my $buf   = pack('L', $size) . ("\0" x ($size - 4));
  my ($ptr) = scalar_to_buffer($buf);
  my $rc    = _read_limits($ptr);
  _fail('limits', $rc) if $rc < 0;
  my (undef, undef, @fields) = unpack('L L (q Q)' . scalar(@names), $buf);
  my %out;
  for my $name (@names) {
    my ($value, $source) = splice @fields, 0, 2;
    $out{$name} = {
      source => $source ? $ffi->cast('opaque' => 'string', $source) : undef,
      value  => !$source || $value == -1 ? undef : $value == 9223372036854775807 ? 'unlimited' : $value,
    };
  }
  return \%out;
}

# ---- a poller ---------------------------------------------------------------------------------------

sub new {
  my ($class, %opt) = @_;
  _check_options('new', \%opt, 'backend');
  my $backend = $opt{backend};
  my $handle;
  my $rc = _create(\$handle, $backend, 0);
  if ($rc == _ENOBACKEND) {
    my $name = $backend // $ENV{XPOLL_BACKEND} // '';
    croak "XPoll: no backend '$name' is compiled in (compiled: " . join(', ', backends()) . ")";
  }
  _fail('new', $rc) if $rc < 0;
  my $self = bless { h => $handle, reg => {}, cap => 0 }, $class;
  return $self;
}

sub DESTROY {
  my ($self) = @_;
  $self->close;
}

sub close {
  my ($self) = @_;
  _destroy(delete $self->{h}) if defined $self->{h};
  $self->{reg} = {};
  return;
}

sub _h {
  my ($self) = @_;
  croak "XPoll: this poller is closed" unless defined $self->{h};
  return $self->{h};
}

sub backend      { _backend($_[0]->_h) }
sub capabilities { _cap_names(_caps($_[0]->_h)) }

# A descriptor number from a filehandle (glob, IO::Handle) or a number.
sub _fd {
  my ($what, $fh) = @_;
  _croak_errno(Errno::EINVAL(), "XPoll: $what: a filehandle or descriptor number is required") unless defined $fh;
  if (!ref $fh && looks_like_number($fh)) {
    _croak_errno(Errno::EBADF(), "XPoll: $what: invalid descriptor $fh")
      if $fh < 0 || $fh != int($fh) || $fh > 0x7fffffff;
    return int($fh);
  }
  my $fd = openhandle($fh) ? fileno($fh) : undef;
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

sub _mask {
  my ($what, $events, $mode) = @_;
  croak "XPoll: $what: events must be a number" unless defined $events && looks_like_number($events);
  croak "XPoll: $what: invalid event mask $events" if $events < 0 || $events != int($events) || $events > 0xffffffff;
  if (defined $mode) {
    croak "XPoll: $what: mode must be level, oneshot or edge, not '$mode'" unless exists $MODE{$mode};
    $events |= $MODE{$mode};
  }
  return $events;
}

sub add {
  my ($self, $fh, $events, $data, @opt) = @_;
  my $opt = _options('add', \@opt, 'mode');
  my $fd  = _fd('add', $fh);
  my $rc  = _add($self->_h, $fd, _mask('add', $events, $opt->{mode}), 0);
  _fail('add', $rc, $fd) if $rc < 0;
  $self->{reg}{$fd} = [$fh, $data];
  return $self;
}

sub modify {
  my ($self, $fh, $events, @data) = @_;
  my $opt = _options('modify', [@data[1 .. $#data]], 'mode');
  my $fd  = _fd('modify', $fh);
  my $rc  = _modify($self->_h, $fd, _mask('modify', $events, $opt->{mode}), 0);
  _fail('modify', $rc, $fd) if $rc < 0;
  $self->{reg}{$fd}[1] = $data[0] if @data;
  return $self;
}

sub remove {
  my ($self, $fh) = @_;
  my $fd = _fd('remove', $fh);
  my $rc = _remove($self->_h, $fd);
  _fail('remove', $rc, $fd) if $rc < 0;
  my $reg = delete $self->{reg}{$fd};
  return $reg ? $reg->[1] : undef;
}

sub registered { scalar keys %{ $_[0]->{reg} } }

sub wait {
  my ($self, $timeout, $max) = @_;
  return @{ $self->_wait_events($timeout, $max, 0) };
}

# The wait itself, returning the events as an array reference. A signal runs its %SIG handler (on the
# way back into Perl) and the wait goes on with the time left; when $interruptible is true, the wait
# returns undef instead, with $! set to EINTR, as poll(2) and IO::Poll do.
sub _wait_events {
  my ($self, $timeout, $max, $interruptible) = @_;
  my $h = $self->_h;
  $max //= keys %{ $self->{reg} } || 1;
  croak "XPoll: wait: max must be between 1 and " . _WAIT_MAX unless looks_like_number($max) && $max >= 1 && $max <= _WAIT_MAX;
  my $ms = !defined $timeout || $timeout < 0 ? -1 : int($timeout * 1000 + 0.999999);
  $ms = 0x7fffffff if $ms > 0x7fffffff;
  my $deadline = $ms > 0 ? Time::HiRes::time() + $ms / 1000 : undef;
  my $buf = "\0" x ($EVENT_SIZE * $max);
  my ($ptr) = scalar_to_buffer($buf);
  my $n;
  while (1) {
    $n = _wait($h, $ptr, $max, $ms);
    last unless $n == _EINTR;
    # Back in Perl: the pending signal handler has run (a die in it propagates from here).
    if ($interruptible) {
      $! = Errno::EINTR();    # set after the handler, which may have changed it
      return undef;
    }
    if (defined $deadline) {
      $ms = int(($deadline - Time::HiRes::time()) * 1000 + 0.999999);
      $ms = 0 if $ms < 0;    # past the deadline: do not block (-1 would mean for ever)
    }
  }
  _fail('wait', $n) if $n < 0;
  my @out;
  my $reg = $self->{reg};
  for my $i (0 .. $n - 1) {
    my (undef, $fd, $events) = unpack('Q l L', substr($buf, $i * $EVENT_SIZE, $EVENT_SIZE));
    my $r = $reg->{$fd} or next;
    push @out, [$r->[0], $events, $r->[1]];
  }
  return \@out;
}

sub wake {
  my ($self) = @_;
  my $rc = _wake($self->_h);
  _fail('wake', $rc) if $rc < 0;
  return;
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

  # Code written for IO::Poll moves over by changing its constructor:
  use XPoll::Poll;
  my $poll = XPoll::Poll->new(backend => 'epoll');

=head1 DESCRIPTION

XPoll drives the xpoll C library through L<FFI::Platypus>, which needs no compiler when the
distribution is installed and costs about 85 ns a call; the wait loop, the only hot path, is one
call per wait. (XS would be a little faster per call, but would tie each install to a compiler and
to the perl it was built for.)

The library is looked for in C<$XPOLL_LIBRARY> (a path), then beside F<XPoll.pm>, then where
L<FFI::CheckLib> finds system libraries. When none is found, the error names every place looked at.

=head1 METHODS

=head2 backends

  my @names = XPoll->backends;

The compiled backends, best first.

=head2 backend_capabilities

  my @caps = XPoll->backend_capabilities('poll');

What a backend can do: any of C<oneshot edge rdhup nonsocket unbounded live_changes hangup>. Croaks
for a backend that is not compiled.

=head2 limits

  my $limits = XPoll->limits;   # { nofile_soft => { value => 20000, source => 'getrlimit(RLIMIT_NOFILE)' }, ... }

The descriptor limits, as C<xpoll-probe> reports them. A value is C<undef> when it could not be
read, C<'unlimited'> when it is not set; a source is C<undef> when the limit does not apply on this OS.

=head2 version

The C library's version, C<"major.minor.patch">.

=head2 new

  my $poller = XPoll->new(backend => 'epoll');

Opens a backend by name, or the best one (C<$XPOLL_BACKEND> overrides that choice). Croaks for a
backend that is not compiled, naming those that are.

=head2 add

  $poller->add($fh_or_fd, $events, $data, mode => 'oneshot');

Watches a filehandle or descriptor number for C<IN>, C<OUT>, C<RDHUP> (C<ERR> and C<HUP> are always
reported). C<$data> is any Perl scalar, kept alive while registered and returned with each event.
The mode is C<level> (default), C<oneshot> or C<edge>, or C<ONESHOT>/C<EDGE> in C<$events>.
Croaks, with C<$!> set, for a descriptor already registered (EEXIST), closed or not a descriptor
(EBADF), or a mode the backend lacks (ENOTSUP); for an option it does not know (EINVAL, the
message names it); then nothing is registered.

=head2 modify

  $poller->modify($fh, $events);            # keeps the data
  $poller->modify($fh, $events, $data);
  $poller->modify($fh, $events, $data, mode => 'oneshot');

Changes the interest (and data, and mode, as for C<add>); re-arms a oneshot registration. Croaks
(ENOENT) for one not registered, and as C<add> does for an unknown option (EINVAL).

=head2 remove

  my $data = $poller->remove($fh);

Stops watching; nothing of it is reported afterwards. Returns its data. Croaks (ENOENT) for one not
registered. Remove a descriptor before closing it.

=head2 wait

  my @events = $poller->wait($timeout, $max);

Waits up to C<$timeout> seconds (C<undef>: until something happens; 0: not at all) and returns a
list of C<[$fh_or_fd, $events, $data]>, with the filehandle or number given to C<add>.

A signal does not end the wait (an C<EINTR> from the library is never seen): its C<%SIG> handler
runs, and the wait then goes on with the time left. To end the wait from the handler, call
C<wake> in it (the wait returns no events) or die in it (the wait ends with that exception).
L<XPoll::Poll>'s C<poll> differs on purpose, as L<IO::Poll>'s does: a signal makes it return -1
with C<$!> set to C<EINTR>.

=head2 wake

  $poller->wake;

Makes a C<wait> in progress return (or the next one). Usable from a signal handler of this process.

=head2 backend, capabilities, registered

The backend's name, its capabilities, and how many descriptors are registered.

=head2 close

Destroys the poller; later calls croak. Done when the object is destroyed. A poller belongs to the
process that made it: in a forked child, create a new one.

=head1 SEE ALSO

L<XPoll::Poll>, F<examples/preforker.pl>, the xpoll documentation.

=cut
