# What zsh's completion system offers for a command line, one match a line:
#   zsh -f zsh_complete.zsh FPATH_DIR CWD 'pacer play --'
# It runs an interactive zsh in a pseudo-terminal (zpty) with FPATH_DIR first in $fpath, types
# the line and a TAB, and has compadd print each match instead of inserting it; null lines
# before and after the completion mark where the matches are (the technique of
# zsh-capture-completion).
zmodload zsh/zpty
zpty z zsh -f -i
zpty -w z "PROMPT= RPROMPT=; cd ${(q)2}; fpath=(${(q)1} \$fpath); autoload -U compinit; compinit -u -D"
zpty -w z 'bindkey "^I" complete-word'
zpty -w z 'null-line() { echo -E - $'"'"'\0'"'"' }; compprefuncs=(null-line); comppostfuncs=(null-line exit)'
zpty -w z "zstyle ':completion:*' list-grouped false; zstyle ':completion:*' insert-tab false"
# Calls that only ask (-O, -A, -D) go through; the others print their matches.
zpty -w z 'compadd() { if [[ ${@[1,(i)(-|--)]} == *-(O|A|D)\ * ]]; then builtin compadd "$@"; return $?; fi; typeset -a __hits; builtin compadd -A __hits "$@"; local h; for h in $__hits; do echo -E - "<match>$h"; done }'
zpty -w z "$3"$'\t'
integer nulls=0
local line
while zpty -r z line; do
  [[ $line == *$'\0'* ]] && { (( ++nulls )); (( nulls == 2 )) && break; continue; }
  (( nulls == 1 )) && [[ $line == *'<match>'* ]] && print -r -- ${${line#*<match>}//[$'\r\n']}
done
zpty -d z
