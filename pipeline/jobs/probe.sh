# flowlogs probe: what DNS, TCP, TLS and a signed call to each target say now, from inside a task's network.
#
# Usage: sh probe.sh TARGET...   where TARGET is  name|host|port|aws-cli words of one read-only call
#        (the call may be empty: then DNS, TCP and TLS only). `flowlogs probe` builds the targets.
#        Without arguments, the targets are the lines of FLOWLOGS_PROBE_TARGETS (how the probe task gets them).
# Prints one JSON object per line: "step" is identity, dns, tcp, tls, call, then done.
# Needs only what the aws-cli image has: sh, sed, tr, curl, getent (or nslookup), aws.
# FLOWLOGS_PROBE_TIMEOUT: seconds per connection attempt (default 5).
# FLOWLOGS_PROBE_CLUSTER, FLOWLOGS_PROBE_SERVICE: whose network this is (copied into every line).

if [ $# -eq 0 ] && [ -n "$FLOWLOGS_PROBE_TARGETS" ]; then
    IFS='
'
    set -f
    set -- $FLOWLOGS_PROBE_TARGETS
    set +f
    unset IFS
fi
T=${FLOWLOGS_PROBE_TIMEOUT:-5}
REGION=${AWS_REGION:-$AWS_DEFAULT_REGION}
AWS_PAGER=""
export AWS_PAGER

str() { # $1 as a JSON string: control characters become spaces, \ and " are escaped
    printf '"%s"' "$(printf '%s' "$1" | LC_ALL=C tr -c '[:print:]' ' ' \
        | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^ *//' -e 's/ *$//')"
}

emit() { # $1 the step, $2 its fields (JSON members, each led by a comma)
    printf '{"probe":"flowlogs/1","time":"%s","run":%s,"task_arn":%s,"source_ip":%s,"cluster":%s,"service":%s,"account":%s,"region":%s,"step":"%s"%s}\n' \
        "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$(str "$RUN")" "$(str "$TASK_ARN")" "$(str "$SOURCE_IP")" \
        "$(str "$FLOWLOGS_PROBE_CLUSTER")" "$(str "$FLOWLOGS_PROBE_SERVICE")" "$(str "$ACCOUNT")" "$(str "$REGION")" \
        "$1" "$2"
}

bool() { if [ "$1" -eq 0 ]; then echo true; else echo false; fi; }

has() { command -v "$1" >/dev/null 2>&1; }

# Which task this is, and its address, from the task metadata endpoint (absent outside ECS).
TASK_ARN="" SOURCE_IP=""
if [ -n "$ECS_CONTAINER_METADATA_URI_V4" ] && has curl; then
    meta=$(curl -s -m "$T" "$ECS_CONTAINER_METADATA_URI_V4/task")
    TASK_ARN=$(printf '%s' "$meta" | sed -n 's/.*"TaskARN": *"\([^"]*\)".*/\1/p')
    SOURCE_IP=$(printf '%s' "$meta" | sed -n 's/.*"IPv4Addresses": *\[ *"\([^"]*\)".*/\1/p')
fi
RUN=${FLOWLOGS_PROBE_RUN:-${TASK_ARN##*/}}
[ -n "$RUN" ] || RUN=$(uname -n)

# Who the calls are made as: the credentials the task (or the exec session) has.
ACCOUNT="" principal=""
if has aws; then
    out=$(aws sts get-caller-identity --query '[Account,Arn]' --output text \
          --cli-connect-timeout "$T" --cli-read-timeout "$T" 2>&1); rc=$?
else
    out="aws: command not found"; rc=127
fi
if [ "$rc" -eq 0 ]; then
    set -- $out "$@"
    ACCOUNT=$1 principal=$2
    shift 2
    emit identity ",\"ok\":true,\"principal\":$(str "$principal")"
else
    emit identity ",\"ok\":false,\"error\":$(str "$out")"
fi

resolve() { # the addresses of $1, one a line
    if has getent; then
        getent ahosts "$1" | while read -r address _; do echo "$address"; done | sort -u
    else
        nslookup "$1" 2>/dev/null | sed -n '/^Name:/,$ s/^Address[^:]*: *//p' | sort -u
    fi
}

connect() { # target host port address: one tcp line, and a tls line when the connection was made
    if ! has curl; then
        emit tcp "$1,\"address\":$(str "$4"),\"ok\":false,\"error\":\"curl: command not found\""
        return
    fi
    case $4 in *:*) at="[$4]" ;; *) at=$4 ;; esac
    out=$(curl -sS -o /dev/null --noproxy '*' --connect-timeout "$T" -m $((T * 2)) --resolve "$2:$3:$at" \
          -w '\nTIMES %{num_connects} %{time_connect} %{time_appconnect}' "https://$2:$3/" 2>&1); rc=$?
    set -- "$1" "$2" "$3" "$4" $(printf '%s\n' "$out" | sed -n 's/^TIMES //p')
    error=$(printf '%s\n' "$out" | sed '/^TIMES /d')
    where="$1,\"address\":$(str "$4")"
    if [ "${5:-0}" -eq 0 ]; then  # no connection was made
        emit tcp "$where,\"ok\":false,\"error\":$(str "$error")"
        return
    fi
    case $6 in  # curl leaves the times at 0 when the transfer failed
        0.000000) emit tcp "$where,\"ok\":true" ;;
        *) emit tcp "$where,\"ok\":true,\"seconds\":$6" ;;
    esac
    case $rc:$7 in
        0:*) emit tls "$where,\"ok\":true,\"seconds\":$7" ;;
        *:0.000000 | *:) emit tls "$where,\"ok\":false,\"error\":$(str "$error")" ;;
        *) emit tls "$where,\"ok\":true,\"seconds\":$7" ;;  # the handshake was made; HTTP failed after it
    esac
}

for spec in "$@"; do
    name=${spec%%|*} rest=${spec#*|}
    host=${rest%%|*} rest=${rest#*|}
    port=${rest%%|*} words=""
    [ "$port" = "$rest" ] || words=${rest#*|}
    target=",\"target\":$(str "$name"),\"host\":$(str "$host"),\"port\":$port"
    addresses=$(resolve "$host")
    if [ -z "$addresses" ]; then
        emit dns "$target,\"ok\":false,\"addresses\":[],\"error\":$(str "no address for $host (NXDOMAIN, no answer or no resolver)")"
    else
        list=""
        for a in $addresses; do list="$list,$(str "$a")"; done
        emit dns "$target,\"ok\":true,\"addresses\":[${list#,}]"
        for a in $addresses; do connect "$target" "$host" "$port" "$a"; done
    fi
    if [ -n "$words" ]; then
        proxy=${HTTPS_PROXY:-$https_proxy}
        set -f
        out=$(aws $words ${REGION:+--region $REGION} --cli-connect-timeout "$T" --cli-read-timeout "$T" 2>&1 >/dev/null); rc=$?
        set +f
        fields="$target,\"call\":$(str "aws $words"),\"ok\":$(bool $rc)"
        [ -z "$proxy" ] || fields="$fields,\"proxy\":$(str "$proxy")"
        [ "$rc" -eq 0 ] || fields="$fields,\"error\":$(str "$out")"
        emit call "$fields"
    fi
done
emit done ",\"targets\":$#"
