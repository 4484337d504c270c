# Writes the CREATE AGGREGATE and COMMENT statements of sql/src/45_aggregates.table (see
# its header): each aggregate once per label type, and once more with options jsonb when
# it takes options.
BEGIN { FS = "\t" }
/^#/ || NF == 0 { next }
NF != 7 { printf "%s:%d: expected 7 fields, got %d\n", FILENAME, FNR, NF > "/dev/stderr"; exit 1 }
{
    name = $1; step = $2; family = $3; before = $4; comment = $6; options = $7
    n = split(before, parts, ", ")
    types = ""
    for (i = 1; i <= n; i++) { split(parts[i], w, " "); types = types w[2] ", " }
    split($5, labels, " ")
    for (l = 1; l in labels; l++) {
        emit(name, step, family, before ", label " labels[l], types labels[l], comment)
        if (options != "")
            emit(name, step, family, before ", label " labels[l] ", options jsonb", types labels[l] ", jsonb",
                 comment " Options: " options)
    }
}
function emit(name, step, family, args, types, comment) {
    printf "CREATE AGGREGATE ml.%s(%s) (\n    SFUNC = ml.%s, STYPE = internal, FINALFUNC = ml._%s_final,\n", name, args, step, family
    printf "    COMBINEFUNC = ml._%s_combine, SERIALFUNC = ml._%s_serialize,\n", family, family
    printf "    DESERIALFUNC = ml._%s_deserialize, PARALLEL = SAFE);\n", family
    printf "COMMENT ON AGGREGATE ml.%s(%s) IS\n  '%s';\n", name, types, comment
}
