# bash completion for czifs
_czifs() {
  local cur prev
  cur="${COMP_WORDS[COMP_CWORD]}"
  prev="${COMP_WORDS[COMP_CWORD-1]}"
  case "$prev" in
    --damaged) COMPREPLY=($(compgen -W "fail zero" -- "$cur")); return ;;
    --log-level) COMPREPLY=($(compgen -W "trace debug info warn error off" -- "$cur")); return ;;
    --watch) COMPREPLY=($(compgen -W "auto inotify ttl" -- "$cur")); return ;;
    --without) COMPREPLY=($(compgen -W "tiles pyramid hyperstacks zarr ometiff tiles,pyramid,hyperstacks,zarr,ometiff" -- "$cur")); return ;;
    --threads|-j|--cache-size|--parsed-memory|--parsed-files|--zarr-chunk|--ttl|--readahead) return ;;
    -o) COMPREPLY=($(compgen -W "allow_other default_permissions threads= max_threads= cache_size= log_level= log_file= damaged=zero damaged=fail without= watch=auto watch=inotify watch=ttl ttl= parsed_files= parsed_memory= zarr_chunk= readahead=" -- "$cur")); compopt -o nospace 2>/dev/null; return ;;
    --log-file) COMPREPLY=($(compgen -f -- "$cur")); return ;;
  esac
  local sub="${COMP_WORDS[1]}"
  if [[ "$cur" == -* ]]; then
    case "$sub" in
      inspect) COMPREPLY=($(compgen -W "--json --log-level -h --help" -- "$cur")) ;;
      export) COMPREPLY=($(compgen -W "-j --threads --cache-size --damaged --without --overwrite --zarr-chunk --log-level -h --help" -- "$cur")) ;;
      *) COMPREPLY=($(compgen -W "-f --foreground -d --debug -s --single-thread -o --threads --cache-size --damaged --without --watch --ttl --parsed-files --parsed-memory --zarr-chunk --readahead --log-level --log-file -V --version -h --help" -- "$cur")) ;;
    esac
    return
  fi
  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=($(compgen -W "inspect export" -- "$cur") $(compgen -f -- "$cur"))
    compopt -o filenames 2>/dev/null
    return
  fi
  # Sources: folders and .czi files; the mount point / output: folders.
  COMPREPLY=($(compgen -d -- "$cur") $(compgen -f -X '!*.[cC][zZ][iI]' -- "$cur"))
  compopt -o filenames 2>/dev/null
}
complete -F _czifs czifs
