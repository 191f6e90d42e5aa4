#!/usr/bin/env bash
# Issues an organisation's client certificate: subject CN=ORG_ID,
# extendedKeyUsage clientAuth, signed by the CA in DIR.
set -euo pipefail
# shellcheck source=certs/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
	cat <<EOF
usage: $prog DIR ORG_ID [--out NAME] [--csr FILE]
                  [--days N | --startdate YYYYMMDDHHMMSSZ --enddate YYYYMMDDHHMMSSZ]
  Issues DIR/NAME.crt (subject CN=ORG_ID, extendedKeyUsage clientAuth) and,
  without --csr, a new key DIR/NAME.key. NAME is ORG_ID unless --out says
  otherwise (use --out for a renewal: ORG_ID-2027).
  ORG_ID    the organisation id of the daemon's registry: 1-63 of a-z 0-9 -,
            not starting with -
  --csr     sign this certificate request (made by the organisation, which
            keeps its key) instead of making a key here; its subject is
            replaced by CN=ORG_ID
  --days    validity in days (default 365)
  --startdate, --enddate   exact validity (UTC), e.g. for an expired test
            certificate: --startdate 20200101000000Z --enddate 20210101000000Z
EOF
}

[ $# -ge 2 ] || usage_error "DIR and ORG_ID are needed"
dir=$1
org=$2
shift 2
[[ $org =~ ^[a-z0-9][a-z0-9-]{0,62}$ ]] ||
	usage_error "'$org' is not an organisation id: 1-63 of a-z 0-9 -, not starting with -"
out=$org
csr=
days=
startdate=
enddate=
while [ $# -gt 0 ]; do
	case $1 in
	--out) need_value "$1" $#; out=$2; shift 2 ;;
	--csr) need_value "$1" $#; csr=$(abs_path "$2"); shift 2 ;;
	--days) need_value "$1" $#; days=$2; shift 2 ;;
	--startdate) need_value "$1" $#; startdate=$2; shift 2 ;;
	--enddate) need_value "$1" $#; enddate=$2; shift 2 ;;
	-h | --help) usage; exit 0 ;;
	*) usage_error "unknown argument '$1'" ;;
	esac
done
check_file_name "$out"
validity=()
if [ -n "$startdate$enddate" ]; then
	[ -z "$days" ] || usage_error "give either --days or --startdate and --enddate"
	[ -n "$startdate" ] && [ -n "$enddate" ] ||
		usage_error "--startdate and --enddate go together"
	check_gentime --startdate "$startdate"
	check_gentime --enddate "$enddate"
	[[ $startdate < $enddate ]] || usage_error "--enddate must come after --startdate"
	validity=(-startdate "$startdate" -enddate "$enddate")
else
	days=${days:-365}
	check_days "$days"
	validity=(-days "$days")
fi
[ -z "$csr" ] || [ -f "$csr" ] || die "no certificate request '$csr'"

require_ca "$dir"
hint="to renew, issue under another name with --out $org-$(date -u +%Y)"
if [ -n "$csr" ]; then
	refuse_overwrite "$hint" "$out.crt"
else
	refuse_overwrite "$hint" "$out.key" "$out.crt"
	new_key "$out.key"
	csr=$SCRATCH/req.csr
	run_openssl req -new -config openssl.cnf -key "$NEW_KEY" -subj "/CN=$org" -out "$csr"
fi
sign_csr "$csr" "$out.crt" org_ext -subj "/CN=$org" "${validity[@]}"
[ -z "${NEW_KEY:-}" ] || key_in_place "$out.key"
enddate_shown=$(openssl x509 -in "$out.crt" -noout -enddate)
echo "$prog: $CA_DIR/$out.crt for organisation $org (${enddate_shown#notAfter=})"
