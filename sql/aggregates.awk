# Writes the CREATE AGGREGATE and COMMENT statements of sql/src/45_aggregates.table (see
# its header): each aggregate once per label type, and once more with options jsonb when
# it takes options; each training aggregate (family train) with its twin ml.<name>_state,
# which ends in the partial state as an ml.fit_state value (sql/src/27_fit_states.sql).
BEGIN { FS = "\t" }
/^#/ || NF == 0 { next }
NF != 7 { printf "%s:%d: expected 7 fields, got %d\n", FILENAME, FNR, NF > "/dev/stderr"; exit 1 }
{
    split($5, labels, " ")
    for (l = 1; l in labels; l++) {
        args = $4
        gsub(/LABEL/, labels[l], args)
        emit($1, $2, $3, args, $6)
        if ($7 != "")
            emit($1, $2, $3, args ", options jsonb", $6 " Options: " $7)
    }
}
# the argument types alone, for COMMENT ON AGGREGATE
function types(args,    n, parts, w, i, out) {
    n = split(args, parts, ", ")
    for (i = 1; i <= n; i++) { split(parts[i], w, " "); out = out (i > 1 ? ", " : "") w[2] }
    return out
}
function emit(name, step, family, args, comment) {
    declare(name, step, family, args, "ml._" family "_final", comment)
    if (family == "train")
        declare(name "_state", step, family, args, "ml._fit_state_final",
                "The partial state of ml." name "(" types(args) ") on these rows, as an ml.fit_state value; ml.combine_states of the states of all parts gives the model ml." name " gives on all rows.")
}
function declare(name, step, family, args, final, comment) {
    printf "CREATE AGGREGATE ml.%s(%s) (\n    SFUNC = ml.%s, STYPE = internal, FINALFUNC = %s,\n", name, args, step, final
    printf "    COMBINEFUNC = ml._%s_combine, SERIALFUNC = ml._%s_serialize,\n", family, family
    printf "    DESERIALFUNC = ml._%s_deserialize, PARALLEL = SAFE);\n", family
    printf "COMMENT ON AGGREGATE ml.%s(%s) IS\n  '%s';\n", name, types(args), comment
}
