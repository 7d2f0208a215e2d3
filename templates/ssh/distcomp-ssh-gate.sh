#!/bin/sh
# distcomp-ssh-gate.sh: the remote side of `distcomp ssh` (the SSH method), in POSIX sh.
#
# The same file works two ways:
#
# 1. Sent inline by `distcomp ssh` when the remote account has no gate:
#      sh -c '<this file>' distcomp-ssh VERB BASE UUID [PROGRAM] [rsync --server ...]
#    ($0 is then "distcomp-ssh").
#
# 2. As the forced command of the MInt key in ~/.ssh/authorized_keys:
#      command="/path/distcomp-ssh-gate.sh --base /tmp --program ~/misrc_remote_workflow/scripts/execute_remote-side_program_ssh.sh",restrict ssh-ed25519 AAAA... mint
#    sshd then puts what the client asked for into SSH_ORIGINAL_COMMAND. The gate splits it
#    into words (single quotes and backslash escapes only; no expansion of any kind), accepts
#    only the grammar below, checks BASE and PROGRAM against its own options, and runs ITS OWN
#    copy of the verb. The script text a client sends inline is ignored, never run.
#    Anything else is refused (exit 126) and logged: to --log FILE if given, else to syslog
#    through `logger` (facility auth), else to ~/.distcomp-ssh-gate.log.
#
# Grammar (every BASE must equal --base, every PROGRAM must equal --program, UUID is a
# lower-case RFC 4122 text form, the working directory is BASE/UUID):
#   sh -c <ignored> distcomp-ssh mkdir  BASE UUID
#   sh -c <ignored> distcomp-ssh fetch  BASE UUID PROGRAM rsync --server --sender OPTS . BASE/UUID/
#   sh -c <ignored> distcomp-ssh status BASE UUID
#   sh -c <ignored> distcomp-ssh rm     BASE UUID
#   rsync --server OPTS . BASE/UUID/          (upload into a working directory)
#
# `fetch` starts PROGRAM in the working directory once (detached, so a dropped SSH connection
# does not stop it), waits for it to end, then hands over to rsync, which sends the whole
# directory back. Its records live in BASE/UUID/.distcomp/: `pid`, and `exit-status`, written
# to a temporary name and renamed, so it is either absent or complete. Calling `fetch` again
# (after a dropped connection) never starts PROGRAM twice: `mkdir .distcomp` is the lock.
#
# Nothing here reads the login shell's startup files or needs anything beyond a POSIX shell,
# rsync, and the usual utilities (mkdir, mv, rm, cat, tail, sleep, nohup).

LC_ALL=C
export LC_ALL
me=distcomp-ssh
nl='
'
h='[0-9a-f]'
uuid_pattern="$h$h$h$h$h$h$h$h-$h$h$h$h-$h$h$h$h-$h$h$h$h-$h$h$h$h$h$h$h$h$h$h$h$h"
gate=no
gate_base=
gate_program=
gate_log=
original=

# --- messages: every line starts with "distcomp-ssh: <kind>:" so the client can tell them apart
say() { printf '%s: %s\n' "$me" "$*" >&2; }

log_refusal() {
  [ "$gate" = yes ] || return 0
  # Printable characters only, and not too long: the inline script word can be kilobytes.
  shown=$(printf '%s' "$original" | tr -c '[:print:]' '?' | cut -c 1-400)
  line="refused: $1; from=${SSH_CLIENT%% *}; command=$shown"
  if [ -n "$gate_log" ]; then
    printf '%s %s[%s] %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" distcomp-ssh-gate "$$" "$line" >>"$gate_log"
  elif command -v logger >/dev/null 2>&1 && logger -t distcomp-ssh-gate -p auth.warning -- "$line" 2>/dev/null; then
    :
  else
    printf '%s %s[%s] %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" distcomp-ssh-gate "$$" "$line" >>"$HOME/.distcomp-ssh-gate.log"
  fi
}

refuse() { log_refusal "$1"; say "refused: $1"; exit 126; }
fail() { say "error: $1"; exit 125; }

# expand_home WORD: sets $expanded (a variable, not $(...) output: no subshell to fork).
expand_home() {
  case $1 in
    '~') expanded=$HOME ;;
    '~/'*) expanded=$HOME/${1#??} ;;
    *) expanded=$1 ;;
  esac
}

# check_workdir BASE UUID: sets $workdir, refuses anything but an absolute BASE without
# "." or ".." components and a UUID-shaped last component.
check_workdir() {
  case $1 in /*) ;; *) refuse "base is not an absolute path" ;; esac
  case $1 in *"$nl"*) refuse "base contains a newline" ;; esac
  case /$1/ in */../* | */./*) refuse "base has . or .. components" ;; esac
  # shellcheck disable=SC2254 # the pattern is meant to be a pattern
  case $2 in $uuid_pattern) ;; *) refuse "not a working directory name" ;; esac
  if [ "$gate" = yes ] && [ "${1%/}" != "${gate_base%/}" ]; then refuse "base is not the gate's base"; fi
  workdir=${1%/}/$2
}

check_program() {
  case $1 in '' | *"$nl"*) refuse "bad program name" ;; esac
  if [ "$gate" = yes ]; then
    expand_home "$gate_program"
    allowed=$expanded
    expand_home "$1"
    [ "$expanded" = "$allowed" ] || refuse "program is not the gate's program"
  fi
}

# check_rsync receive|send WORDS...: the rsync server command line our client makes, nothing more.
check_rsync() {
  mode=$1
  shift
  [ "${1-}" = rsync ] || refuse "not an rsync server command"
  [ "${2-}" = --server ] || refuse "not an rsync server command"
  shift 2
  if [ "$mode" = send ]; then
    [ "${1-}" = --sender ] || refuse "rsync must be the sender here"
    shift
  fi
  while [ $# -gt 0 ]; do
    case $1 in
      .) shift; break ;;
      --partial-dir) [ "${2-}" = .rsync-partial ] || refuse "rsync partial dir"; shift ;;
      --partial-dir=.rsync-partial | --partial) ;;
      --*) refuse "rsync option not allowed" ;;
      -*)
        # "-lDtpre.iLsfxCIvu": options, then after "e" the protocol's capability letters.
        opts=${1#-}
        caps=
        case $opts in *e*) caps=${opts#*e}; opts=${opts%%e*} ;; esac
        case $opts in *[!lDtpr]*) refuse "rsync option not allowed" ;; esac
        case $caps in *[!.A-Za-z]*) refuse "rsync capability not allowed" ;; esac
        ;;
      *) refuse "rsync argument not allowed" ;;
    esac
    shift
  done
  [ $# -eq 1 ] || refuse "rsync must name exactly the working directory"
  case $1 in "$workdir" | "$workdir/") ;; *) refuse "rsync path is not the working directory" ;; esac
}

# --- verbs ---------------------------------------------------------------------------------

verb_mkdir() {
  # Idempotent, so a retry after a dropped connection is harmless; never creates BASE.
  mkdir -- "$workdir" 2>/dev/null || [ -d "$workdir" ] || fail "cannot create $workdir"
}

# Start PROGRAM once, detached, then wait until its exit status is on disk.
start_and_wait() {
  cd -- "$workdir" 2>/dev/null || fail "no working directory $workdir"
  if mkdir .distcomp 2>/dev/null; then
    expand_home "$1"
    prog=$expanded
    # nohup + background + stdin from /dev/null: survives the end of the SSH session
    # (no terminal, so no hangup is sent; nohup covers the case where one is).
    nohup sh -c '
      printf "%s\n" "$$" >.distcomp/pid.tmp && mv -f .distcomp/pid.tmp .distcomp/pid
      "$1" >remote_program_exec.log 2>&1 </dev/null
      st=$?
      printf "%s\n" "$st" >.distcomp/exit-status.tmp && mv -f .distcomp/exit-status.tmp .distcomp/exit-status
    ' distcomp-program "$prog" >/dev/null 2>&1 </dev/null &
    wait "$!"
  fi
  # Re-attached (or the wait above returned): poll once a second for the record.
  waited=0
  while [ ! -f .distcomp/exit-status ]; do
    if [ -f .distcomp/pid ]; then
      pid=$(cat .distcomp/pid)
      if ! kill -0 "$pid" 2>/dev/null; then
        [ -f .distcomp/exit-status ] && break
        say "program-lost: the program ended without recording an exit status"
        return 0
      fi
    else
      # Started but no pid yet: allow 30 s for the detached shell to write it.
      waited=$((waited + 1))
      if [ "$waited" -gt 30 ]; then
        say "program-lost: the program never recorded its pid"
        return 0
      fi
    fi
    sleep 1
  done
}

verb_fetch() {
  program=$1
  shift
  check_program "$program"
  check_rsync send "$@"
  start_and_wait "$program"
  exec "$@"
}

verb_status() {
  cd -- "$workdir" 2>/dev/null || fail "no working directory $workdir"
  if [ -f .distcomp/exit-status ]; then
    printf 'exit-status %s\n' "$(cat .distcomp/exit-status)"
  elif [ -d .distcomp ]; then
    printf 'running\n'
  else
    printf 'not-started\n'
  fi
  if [ -f remote_program_exec.log ]; then tail -n 20 remote_program_exec.log; fi
}

verb_rm() {
  [ -d "$workdir" ] || exit 0
  rm -rf -- "$workdir" || fail "cannot remove $workdir"
}

# dispatch VERB BASE UUID ARGS...
dispatch() {
  [ $# -ge 3 ] || refuse "too few words"
  verb=$1
  check_workdir "$2" "$3"
  shift 3
  case $verb in
    mkdir) [ $# -eq 0 ] || refuse "mkdir takes no more words"; verb_mkdir ;;
    fetch) [ $# -ge 2 ] || refuse "fetch needs a program and an rsync command"; verb_fetch "$@" ;;
    status) [ $# -eq 0 ] || refuse "status takes no more words"; verb_status ;;
    rm) [ $# -eq 0 ] || refuse "rm takes no more words"; verb_rm ;;
    *) refuse "unknown verb" ;;
  esac
}

# --- way 1: sent inline ---------------------------------------------------------------------
if [ "$0" = distcomp-ssh ]; then
  dispatch "$@"
  exit 0
fi

# --- way 2: the authorized_keys gate ----------------------------------------------------------
gate=yes
while [ $# -gt 0 ]; do
  case $1 in
    --base) gate_base=${2-}; shift 2 ;;
    --program) gate_program=${2-}; shift 2 ;;
    --log) gate_log=${2-}; shift 2 ;;
    *) say "gate misconfigured: unknown option $1"; exit 125 ;;
  esac
done
[ -n "$gate_base" ] || gate_base=/tmp
[ -n "$gate_program" ] || gate_program='~/misrc_remote_workflow/scripts/execute_remote-side_program_ssh.sh'

original=${SSH_ORIGINAL_COMMAND-}
[ -n "$original" ] || refuse "no command (interactive login)"

# Split $original into words: 'single-quoted' runs, backslash-escaped characters, and runs of
# plain characters; one or more spaces separate words. Anything else ($, `, ;, |, &, (, ",
# tabs, newlines outside quotes...) is refused: nothing is ever evaluated.
rest=$original
set --
while :; do
  rest=${rest#"${rest%%[! ]*}"}
  [ -n "$rest" ] || break
  word=
  while [ -n "$rest" ]; do
    case $rest in
      ' '*) break ;;
      "'"*)
        rest=${rest#?}
        case $rest in *"'"*) ;; *) refuse "unbalanced quote" ;; esac
        word=$word${rest%%"'"*}
        rest=${rest#*"'"}
        ;;
      '\'?*)
        rest=${rest#?}
        c=${rest%"${rest#?}"}
        word=$word$c
        rest=${rest#?}
        ;;
      [A-Za-z0-9_./=:,+@%~-]*)
        chunk=${rest%%[!A-Za-z0-9_./=:,+@%~-]*}
        word=$word$chunk
        rest=${rest#"$chunk"}
        ;;
      *) refuse "character not allowed outside quotes" ;;
    esac
  done
  set -- "$@" "$word"
done

if [ "${1-}" = sh ] && [ "${2-}" = -c ] && [ "${4-}" = distcomp-ssh ] && [ $# -ge 5 ]; then
  shift 4
  dispatch "$@"
  exit 0
fi
if [ "${1-}" = rsync ]; then
  # Upload: the working directory is the last word.
  for last in "$@"; do :; done
  case $last in */) last=${last%/} ;; esac
  check_workdir "${last%/*}" "${last##*/}"
  check_rsync receive "$@"
  shift 2
  # --munge-links: a symlink that arrives can never point out of the working directory.
  exec rsync --server --munge-links "$@"
fi
refuse "not a distcomp ssh command"
