// The perl program of the exec zygote (exec-zygote.ts): one small process, started once per
// agent, that forks the pre-forked helpers so that the agent's own ~55 MiB process never forks
// per calc. It runs as `/usr/bin/perl -e ZYGOTE_SCRIPT` with an empty environment (no PERL5OPT
// or PERL5LIB applies) in a session of its own, so a terminal's Ctrl+C never reaches it.
//
// Requests on its stdin, each `<byte length>\0<fields, each NUL-terminated>`:
//   P id cwd stdout-path stderr-path  fork a helper: output files opened here (O_APPEND,
//                                     O_NOFOLLOW; they exist), /dev/null as stdin, the working
//                                     directory `cwd`, its own session; it then waits for its command.
//                                     F is answered once the helper is set up (it writes `+`), so
//                                     every path is resolved by then and the agent may rename the
//                                     directory (spare-workdir.ts), and its pid is a process group
//   R id <message>                    the helper's command, passed on as it is: the rest of the
//                                     request, `<byte length>\0argc\0argv...\0KEY=value\0...`
//   D id                              dismiss: the helper reads end-of-file and exits, running nothing
// Answers on its stdout, one line each:
//   Z                 started (its modules loaded: POSIX and Fcntl, part of perl on Debian but a
//                     package of their own on some systems; without them it dies before Z)
//   F id pid          forked             E id reason      not forked (nothing runs)
//   X id              the command runs   N id reason      its exec failed (errno text)
//   G id              the helper had ended before its command reached it (someone killed it):
//                     nothing ran, the agent spawns the command itself
//   W id code signal  a helper or its command ended (code or signal is `-`)
// For a helper whose command it passed on, X or N comes before that helper's W; a helper that
// ended while idle gets only its W (and a G for a command that came too late). End-of-file on stdin (the agent ended or died) makes it
// dismiss its idle helpers and exit; commands that run go on (as with spawn()).
//
// A helper holds only its own pipes: it closes the zygote's copies of every other helper's
// pipes, so a dismissed helper sees end-of-file at once. Right before its exec it writes `!` on
// its status pipe: end-of-file after `!` alone is an exec that succeeded, `!` and a text one that
// failed, nothing at all a helper that ended before it got that far (G). Its status pipe closes on exec
// (perl opens every descriptor above 2 close-on-exec), so the command gets only 0, 1 and 2,
// as spawn() gives. The helper restores the default disposition of the two signals the zygote
// handles (spawn() gave the zygote the defaults for all) and an empty signal mask before the
// exec. SIGCHLD interrupts the zygote's wait; one that lands just before the wait begins is
// caught by a 0.25 s timeout, used only while a helper is expected to end (it runs a command,
// or was dismissed): an idle agent's zygote sleeps.
export const ZYGOTE_SCRIPT = String.raw`
use strict; use warnings; use POSIX (); use Fcntl qw(O_WRONLY O_APPEND O_NOFOLLOW O_RDONLY);
my (%h, %bypid); my $in = ''; my $chld = 0;
$SIG{CHLD} = sub { $chld = 1 }; $SIG{PIPE} = 'IGNORE';
sub write_all { my ($fh, $s) = @_;
  while (length $s) { my $n = syswrite($fh, $s); return 0 unless defined $n && $n > 0; substr($s, 0, $n) = ''; } 1 }
sub say_ { write_all(\*STDOUT, join(' ', map { my $x = $_; $x =~ s/[\r\n]+/ /g; $x } @_) . "\n") or quit(); }
sub quit { for my $o (values %h) { close $o->{cmd} if $o->{cmd}; } POSIX::_exit(0); }
sub fork_helper { my ($id, $cwd, $out, $err) = @_;
  my ($o1, $o2, $null);
  sysopen($o1, $out, O_WRONLY | O_APPEND | O_NOFOLLOW) or return say_('E', $id, "open $out: $!");
  sysopen($o2, $err, O_WRONLY | O_APPEND | O_NOFOLLOW) or return say_('E', $id, "open $err: $!");
  sysopen($null, '/dev/null', O_RDONLY) or return say_('E', $id, "open /dev/null: $!");
  pipe(my $cr, my $cw) or return say_('E', $id, "pipe: $!");
  pipe(my $sr, my $sw) or return say_('E', $id, "pipe: $!");
  chdir $cwd or return say_('E', $id, "chdir $cwd: $!");
  my $pid = fork; my $why = "$!"; chdir '/' if !defined $pid || $pid;
  return say_('E', $id, "fork: $why") unless defined $pid;
  if ($pid == 0) {
    for my $o (values %h) { close $o->{cmd} if $o->{cmd}; close $o->{st} if $o->{st}; }
    close $cw; close $sr;
    $SIG{CHLD} = 'DEFAULT'; $SIG{PIPE} = 'DEFAULT';
    POSIX::sigprocmask(POSIX::SIG_SETMASK(), POSIX::SigSet->new);
    POSIX::setsid();
    POSIX::dup2(fileno($null), 0); POSIX::dup2(fileno($o1), 1); POSIX::dup2(fileno($o2), 2);
    close $null; close $o1; close $o2;
    syswrite($sw, '+');
    binmode $cr; my $m = do { local $/; <$cr> };
    POSIX::_exit(0) unless defined $m && length $m;
    my ($len, $body) = split /\0/, $m, 2;
    POSIX::_exit(0) unless defined $body && $len =~ /^[0-9]+$/ && length($body) == $len;
    my @f = split /\0/, $body, -1; pop @f;
    my $n = shift @f; my @argv = splice(@f, 0, $n);
    %ENV = (); for my $kv (@f) { my ($k, $v) = split /=/, $kv, 2; $ENV{$k} = $v; }
    syswrite($sw, '!');
    { no warnings; exec { $argv[0] } @argv; }
    syswrite($sw, "$!"); POSIX::_exit(127);
  }
  close $cr; close $sw; close $o1; close $o2; close $null;
  $h{$id} = { pid => $pid, cmd => $cw, st => $sr, buf => '', ran => 0 }; $bypid{$pid} = $id;
  # F only once the helper leads its own session and holds its files: from then on its pid is
  # a process group the agent can signal, and nothing of the helper's set-up is left to fail
  my $r = ''; my $n; do { $n = sysread($sr, $r, 1) } while (!defined $n && $!{EINTR});
  return say_('F', $id, $pid) if $n && $r eq '+';
  close $cw; delete $h{$id}{cmd}; say_('E', $id, 'the helper ended while it was being set up');
}
sub status_done { my ($o, $id) = @_;
  close $o->{st}; delete $o->{st}; return unless $o->{ran}; my $b = $o->{buf};
  if ($b eq '') { say_('G', $id); } elsif ($b eq '!') { say_('X', $id); } else { say_('N', $id, substr($b, 1)); } }
sub read_status { my ($o, $id) = @_;
  my $n = sysread($o->{st}, my $b, 4096);
  if (!defined $n) { return if $!{EINTR} || $!{EAGAIN}; $n = 0; }
  if ($n == 0) { status_done($o, $id); } else { $o->{buf} .= $b; } }
sub reap { while ((my $pid = waitpid(-1, POSIX::WNOHANG())) > 0) {
    my $st = $?; my $id = delete $bypid{$pid}; next unless defined $id; my $o = delete $h{$id};
    close $o->{cmd} if $o->{cmd};
    if ($o->{st}) { my $b; while (my $n = sysread($o->{st}, $b, 4096)) { $o->{buf} .= $b; } status_done($o, $id); }
    say_('W', $id, ($st & 127) ? ('-', $st & 127) : ($st >> 8, '-')); } }
sub request { my ($body) = @_;
  my ($t, $id, $rest) = split /\0/, $body, 3; return unless defined $id;
  if ($t eq 'P') { my @a = split /\0/, ($rest // ''), -1; return fork_helper($id, @a[0..2]) if @a >= 3; return say_('E', $id, 'bad request'); }
  my $o = $h{$id};
  if ($t eq 'R') {
    return say_('G', $id) unless $o && $o->{cmd} && !$o->{ran};
    my $c = $o->{cmd}; delete $o->{cmd};
    my $whole = write_all($c, $rest // ''); close $c;
    return say_('G', $id) unless $whole;
    $o->{ran} = 1;
  } elsif ($t eq 'D') { if ($o && $o->{cmd}) { close $o->{cmd}; delete $o->{cmd}; } } }
say_('Z');
for (;;) {
  if ($chld) { $chld = 0; reap(); }
  my $rin = ''; vec($rin, 0, 1) = 1; my %fd;
  for my $id (keys %h) { my $s = $h{$id}{st}; next unless $s; vec($rin, fileno($s), 1) = 1; $fd{fileno($s)} = $id; }
  my $ending = grep { $_->{ran} || !$_->{cmd} } values %h;
  my $n = select(my $rout = $rin, undef, undef, $ending ? 0.25 : undef);
  if ($n < 0) { next if $!{EINTR}; quit(); }
  reap() if $n == 0;
  for my $f (keys %fd) { my $id = $fd{$f}; read_status($h{$id}, $id) if vec($rout, $f, 1) && $h{$id} && $h{$id}{st}; }
  next unless vec($rout, 0, 1);
  my $got = sysread(STDIN, $in, 65536, length $in);
  if (!defined $got) { next if $!{EINTR} || $!{EAGAIN}; quit(); }
  quit() if $got == 0;
  while ($in =~ /^([0-9]+)\0/) { my $hl = length($1) + 1; last if length($in) < $hl + $1;
    my $body = substr($in, $hl, $1); substr($in, 0, $hl + length $body) = ''; request($body); }
}
`;
