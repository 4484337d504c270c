-- ---------------------------------------------------------------- tree models
-- Decision tree, random forest and gradient-boosted trees. Like ml.logreg_fit they keep
-- the rows in memory (8*features + 4 bytes a row, 8*features + 8 for a float8 label)
-- up to pgscore.max_training_memory, and share its transition state, so partial
-- states combine (parallel plans, GROUP BY). Training sorts the rows canonically, so
-- a parallel plan gives the same model as a serial one, and a seed gives the same
-- model every time.
--
-- The label type chooses the task: boolean, smallint, integer, bigint or text labels
-- train a classifier; a float8 label (or numeric, which casts to it) a regressor.
-- smallint and integer have their own signatures so that an integer label column is
-- never taken for a number to regress.
--
-- A NULL element of a features array, or NaN, is a missing value: each split learns
-- which way missing values go. Infinity is an error. ml.predict takes NULL/NaN
-- features of tree models the same way.

CREATE FUNCTION ml._tree_step(internal, float8[], anyelement) RETURNS internal
    AS 'MODULE_PATHNAME', 'ml_tree_step' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION ml._tree_step(internal, float8[], anyelement, jsonb) RETURNS internal
    AS 'MODULE_PATHNAME', 'ml_tree_step' LANGUAGE C PARALLEL SAFE;
CREATE AGGREGATE ml.tree_fit(features float8[], label boolean) (
    SFUNC = ml._tree_step, STYPE = internal, FINALFUNC = ml._train_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE ml.tree_fit(features float8[], label smallint) (
    SFUNC = ml._tree_step, STYPE = internal, FINALFUNC = ml._train_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE ml.tree_fit(features float8[], label integer) (
    SFUNC = ml._tree_step, STYPE = internal, FINALFUNC = ml._train_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE ml.tree_fit(features float8[], label bigint) (
    SFUNC = ml._tree_step, STYPE = internal, FINALFUNC = ml._train_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE ml.tree_fit(features float8[], label text) (
    SFUNC = ml._tree_step, STYPE = internal, FINALFUNC = ml._train_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE ml.tree_fit(features float8[], label float8) (
    SFUNC = ml._tree_step, STYPE = internal, FINALFUNC = ml._train_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE ml.tree_fit(features float8[], label boolean, options jsonb) (
    SFUNC = ml._tree_step, STYPE = internal, FINALFUNC = ml._train_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE ml.tree_fit(features float8[], label smallint, options jsonb) (
    SFUNC = ml._tree_step, STYPE = internal, FINALFUNC = ml._train_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE ml.tree_fit(features float8[], label integer, options jsonb) (
    SFUNC = ml._tree_step, STYPE = internal, FINALFUNC = ml._train_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE ml.tree_fit(features float8[], label bigint, options jsonb) (
    SFUNC = ml._tree_step, STYPE = internal, FINALFUNC = ml._train_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE ml.tree_fit(features float8[], label text, options jsonb) (
    SFUNC = ml._tree_step, STYPE = internal, FINALFUNC = ml._train_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE ml.tree_fit(features float8[], label float8, options jsonb) (
    SFUNC = ml._tree_step, STYPE = internal, FINALFUNC = ml._train_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE ml.tree_fit(float8[], boolean) IS
  'A CART decision tree (scikit-learn DecisionTreeClassifier/Regressor): Gini impurity for classes, squared error for numbers. Classification on boolean labels (ml.predict answers with the label as text). NULL or NaN features are missing values; keeps the rows in memory up to pgscore.max_training_memory.';
COMMENT ON AGGREGATE ml.tree_fit(float8[], smallint) IS
  'A CART decision tree (scikit-learn DecisionTreeClassifier/Regressor): Gini impurity for classes, squared error for numbers. Classification on smallint labels (ml.predict answers with the label as text). NULL or NaN features are missing values; keeps the rows in memory up to pgscore.max_training_memory.';
COMMENT ON AGGREGATE ml.tree_fit(float8[], integer) IS
  'A CART decision tree (scikit-learn DecisionTreeClassifier/Regressor): Gini impurity for classes, squared error for numbers. Classification on integer labels (ml.predict answers with the label as text). NULL or NaN features are missing values; keeps the rows in memory up to pgscore.max_training_memory.';
COMMENT ON AGGREGATE ml.tree_fit(float8[], bigint) IS
  'A CART decision tree (scikit-learn DecisionTreeClassifier/Regressor): Gini impurity for classes, squared error for numbers. Classification on bigint labels (ml.predict answers with the label as text). NULL or NaN features are missing values; keeps the rows in memory up to pgscore.max_training_memory.';
COMMENT ON AGGREGATE ml.tree_fit(float8[], text) IS
  'A CART decision tree (scikit-learn DecisionTreeClassifier/Regressor): Gini impurity for classes, squared error for numbers. Classification on text labels (ml.predict answers with the label as text). NULL or NaN features are missing values; keeps the rows in memory up to pgscore.max_training_memory.';
COMMENT ON AGGREGATE ml.tree_fit(float8[], float8) IS
  'A CART decision tree (scikit-learn DecisionTreeClassifier/Regressor): Gini impurity for classes, squared error for numbers. Regression on a float8 label. NULL or NaN features are missing values; keeps the rows in memory up to pgscore.max_training_memory.';
COMMENT ON AGGREGATE ml.tree_fit(float8[], boolean, jsonb) IS
  'Decision tree classification (boolean label) with options: max_depth (null = unlimited), min_samples_leaf (1), features_per_split (1 = all; a fraction, a count, "sqrt" or "log2"), max_bins (255), seed (0), nulls ("missing" | "error" | "skip").';
COMMENT ON AGGREGATE ml.tree_fit(float8[], smallint, jsonb) IS
  'Decision tree classification (smallint label) with options: max_depth (null = unlimited), min_samples_leaf (1), features_per_split (1 = all; a fraction, a count, "sqrt" or "log2"), max_bins (255), seed (0), nulls ("missing" | "error" | "skip").';
COMMENT ON AGGREGATE ml.tree_fit(float8[], integer, jsonb) IS
  'Decision tree classification (integer label) with options: max_depth (null = unlimited), min_samples_leaf (1), features_per_split (1 = all; a fraction, a count, "sqrt" or "log2"), max_bins (255), seed (0), nulls ("missing" | "error" | "skip").';
COMMENT ON AGGREGATE ml.tree_fit(float8[], bigint, jsonb) IS
  'Decision tree classification (bigint label) with options: max_depth (null = unlimited), min_samples_leaf (1), features_per_split (1 = all; a fraction, a count, "sqrt" or "log2"), max_bins (255), seed (0), nulls ("missing" | "error" | "skip").';
COMMENT ON AGGREGATE ml.tree_fit(float8[], text, jsonb) IS
  'Decision tree classification (text label) with options: max_depth (null = unlimited), min_samples_leaf (1), features_per_split (1 = all; a fraction, a count, "sqrt" or "log2"), max_bins (255), seed (0), nulls ("missing" | "error" | "skip").';
COMMENT ON AGGREGATE ml.tree_fit(float8[], float8, jsonb) IS
  'Decision tree regression (float8 label) with options: max_depth (null = unlimited), min_samples_leaf (1), features_per_split (1 = all; a fraction, a count, "sqrt" or "log2"), max_bins (255), seed (0), nulls ("missing" | "error" | "skip").';

CREATE FUNCTION ml._forest_step(internal, float8[], anyelement) RETURNS internal
    AS 'MODULE_PATHNAME', 'ml_forest_step' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION ml._forest_step(internal, float8[], anyelement, jsonb) RETURNS internal
    AS 'MODULE_PATHNAME', 'ml_forest_step' LANGUAGE C PARALLEL SAFE;
CREATE AGGREGATE ml.forest_fit(features float8[], label boolean) (
    SFUNC = ml._forest_step, STYPE = internal, FINALFUNC = ml._train_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE ml.forest_fit(features float8[], label smallint) (
    SFUNC = ml._forest_step, STYPE = internal, FINALFUNC = ml._train_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE ml.forest_fit(features float8[], label integer) (
    SFUNC = ml._forest_step, STYPE = internal, FINALFUNC = ml._train_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE ml.forest_fit(features float8[], label bigint) (
    SFUNC = ml._forest_step, STYPE = internal, FINALFUNC = ml._train_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE ml.forest_fit(features float8[], label text) (
    SFUNC = ml._forest_step, STYPE = internal, FINALFUNC = ml._train_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE ml.forest_fit(features float8[], label float8) (
    SFUNC = ml._forest_step, STYPE = internal, FINALFUNC = ml._train_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE ml.forest_fit(features float8[], label boolean, options jsonb) (
    SFUNC = ml._forest_step, STYPE = internal, FINALFUNC = ml._train_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE ml.forest_fit(features float8[], label smallint, options jsonb) (
    SFUNC = ml._forest_step, STYPE = internal, FINALFUNC = ml._train_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE ml.forest_fit(features float8[], label integer, options jsonb) (
    SFUNC = ml._forest_step, STYPE = internal, FINALFUNC = ml._train_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE ml.forest_fit(features float8[], label bigint, options jsonb) (
    SFUNC = ml._forest_step, STYPE = internal, FINALFUNC = ml._train_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE ml.forest_fit(features float8[], label text, options jsonb) (
    SFUNC = ml._forest_step, STYPE = internal, FINALFUNC = ml._train_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE ml.forest_fit(features float8[], label float8, options jsonb) (
    SFUNC = ml._forest_step, STYPE = internal, FINALFUNC = ml._train_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE ml.forest_fit(float8[], boolean) IS
  'A random forest (scikit-learn RandomForestClassifier/Regressor): 100 trees on bootstrap samples, fully grown, averaging probabilities or values; each split tries sqrt(d) features (classification) or all d (regression). Classification on boolean labels (ml.predict answers with the label as text). NULL or NaN features are missing values; keeps the rows in memory up to pgscore.max_training_memory.';
COMMENT ON AGGREGATE ml.forest_fit(float8[], smallint) IS
  'A random forest (scikit-learn RandomForestClassifier/Regressor): 100 trees on bootstrap samples, fully grown, averaging probabilities or values; each split tries sqrt(d) features (classification) or all d (regression). Classification on smallint labels (ml.predict answers with the label as text). NULL or NaN features are missing values; keeps the rows in memory up to pgscore.max_training_memory.';
COMMENT ON AGGREGATE ml.forest_fit(float8[], integer) IS
  'A random forest (scikit-learn RandomForestClassifier/Regressor): 100 trees on bootstrap samples, fully grown, averaging probabilities or values; each split tries sqrt(d) features (classification) or all d (regression). Classification on integer labels (ml.predict answers with the label as text). NULL or NaN features are missing values; keeps the rows in memory up to pgscore.max_training_memory.';
COMMENT ON AGGREGATE ml.forest_fit(float8[], bigint) IS
  'A random forest (scikit-learn RandomForestClassifier/Regressor): 100 trees on bootstrap samples, fully grown, averaging probabilities or values; each split tries sqrt(d) features (classification) or all d (regression). Classification on bigint labels (ml.predict answers with the label as text). NULL or NaN features are missing values; keeps the rows in memory up to pgscore.max_training_memory.';
COMMENT ON AGGREGATE ml.forest_fit(float8[], text) IS
  'A random forest (scikit-learn RandomForestClassifier/Regressor): 100 trees on bootstrap samples, fully grown, averaging probabilities or values; each split tries sqrt(d) features (classification) or all d (regression). Classification on text labels (ml.predict answers with the label as text). NULL or NaN features are missing values; keeps the rows in memory up to pgscore.max_training_memory.';
COMMENT ON AGGREGATE ml.forest_fit(float8[], float8) IS
  'A random forest (scikit-learn RandomForestClassifier/Regressor): 100 trees on bootstrap samples, fully grown, averaging probabilities or values; each split tries sqrt(d) features (classification) or all d (regression). Regression on a float8 label. NULL or NaN features are missing values; keeps the rows in memory up to pgscore.max_training_memory.';
COMMENT ON AGGREGATE ml.forest_fit(float8[], boolean, jsonb) IS
  'Random forest classification (boolean label) with options: n_trees (100), max_depth (null = unlimited), min_samples_leaf (1), features_per_split ("sqrt" for classes, 1 = all for numbers; a fraction, a count, "sqrt", "log2"), max_bins (255), seed (0), nulls ("missing" | "error" | "skip").';
COMMENT ON AGGREGATE ml.forest_fit(float8[], smallint, jsonb) IS
  'Random forest classification (smallint label) with options: n_trees (100), max_depth (null = unlimited), min_samples_leaf (1), features_per_split ("sqrt" for classes, 1 = all for numbers; a fraction, a count, "sqrt", "log2"), max_bins (255), seed (0), nulls ("missing" | "error" | "skip").';
COMMENT ON AGGREGATE ml.forest_fit(float8[], integer, jsonb) IS
  'Random forest classification (integer label) with options: n_trees (100), max_depth (null = unlimited), min_samples_leaf (1), features_per_split ("sqrt" for classes, 1 = all for numbers; a fraction, a count, "sqrt", "log2"), max_bins (255), seed (0), nulls ("missing" | "error" | "skip").';
COMMENT ON AGGREGATE ml.forest_fit(float8[], bigint, jsonb) IS
  'Random forest classification (bigint label) with options: n_trees (100), max_depth (null = unlimited), min_samples_leaf (1), features_per_split ("sqrt" for classes, 1 = all for numbers; a fraction, a count, "sqrt", "log2"), max_bins (255), seed (0), nulls ("missing" | "error" | "skip").';
COMMENT ON AGGREGATE ml.forest_fit(float8[], text, jsonb) IS
  'Random forest classification (text label) with options: n_trees (100), max_depth (null = unlimited), min_samples_leaf (1), features_per_split ("sqrt" for classes, 1 = all for numbers; a fraction, a count, "sqrt", "log2"), max_bins (255), seed (0), nulls ("missing" | "error" | "skip").';
COMMENT ON AGGREGATE ml.forest_fit(float8[], float8, jsonb) IS
  'Random forest regression (float8 label) with options: n_trees (100), max_depth (null = unlimited), min_samples_leaf (1), features_per_split ("sqrt" for classes, 1 = all for numbers; a fraction, a count, "sqrt", "log2"), max_bins (255), seed (0), nulls ("missing" | "error" | "skip").';

CREATE FUNCTION ml._gbt_step(internal, float8[], anyelement) RETURNS internal
    AS 'MODULE_PATHNAME', 'ml_gbt_step' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION ml._gbt_step(internal, float8[], anyelement, jsonb) RETURNS internal
    AS 'MODULE_PATHNAME', 'ml_gbt_step' LANGUAGE C PARALLEL SAFE;
CREATE AGGREGATE ml.gbt_fit(features float8[], label boolean) (
    SFUNC = ml._gbt_step, STYPE = internal, FINALFUNC = ml._train_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE ml.gbt_fit(features float8[], label smallint) (
    SFUNC = ml._gbt_step, STYPE = internal, FINALFUNC = ml._train_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE ml.gbt_fit(features float8[], label integer) (
    SFUNC = ml._gbt_step, STYPE = internal, FINALFUNC = ml._train_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE ml.gbt_fit(features float8[], label bigint) (
    SFUNC = ml._gbt_step, STYPE = internal, FINALFUNC = ml._train_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE ml.gbt_fit(features float8[], label text) (
    SFUNC = ml._gbt_step, STYPE = internal, FINALFUNC = ml._train_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE ml.gbt_fit(features float8[], label float8) (
    SFUNC = ml._gbt_step, STYPE = internal, FINALFUNC = ml._train_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE ml.gbt_fit(features float8[], label boolean, options jsonb) (
    SFUNC = ml._gbt_step, STYPE = internal, FINALFUNC = ml._train_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE ml.gbt_fit(features float8[], label smallint, options jsonb) (
    SFUNC = ml._gbt_step, STYPE = internal, FINALFUNC = ml._train_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE ml.gbt_fit(features float8[], label integer, options jsonb) (
    SFUNC = ml._gbt_step, STYPE = internal, FINALFUNC = ml._train_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE ml.gbt_fit(features float8[], label bigint, options jsonb) (
    SFUNC = ml._gbt_step, STYPE = internal, FINALFUNC = ml._train_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE ml.gbt_fit(features float8[], label text, options jsonb) (
    SFUNC = ml._gbt_step, STYPE = internal, FINALFUNC = ml._train_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE ml.gbt_fit(features float8[], label float8, options jsonb) (
    SFUNC = ml._gbt_step, STYPE = internal, FINALFUNC = ml._train_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE ml.gbt_fit(float8[], boolean) IS
  'Gradient-boosted trees (XGBoost hist-style, Newton leaves -G/(H+lambda)): logistic loss for two classes, softmax (one tree per class per round) for more, squared error for numbers; 100 rounds of depth 6, learning rate 0.1. Classification on boolean labels (ml.predict answers with the label as text). NULL or NaN features are missing values; keeps the rows in memory up to pgscore.max_training_memory.';
COMMENT ON AGGREGATE ml.gbt_fit(float8[], smallint) IS
  'Gradient-boosted trees (XGBoost hist-style, Newton leaves -G/(H+lambda)): logistic loss for two classes, softmax (one tree per class per round) for more, squared error for numbers; 100 rounds of depth 6, learning rate 0.1. Classification on smallint labels (ml.predict answers with the label as text). NULL or NaN features are missing values; keeps the rows in memory up to pgscore.max_training_memory.';
COMMENT ON AGGREGATE ml.gbt_fit(float8[], integer) IS
  'Gradient-boosted trees (XGBoost hist-style, Newton leaves -G/(H+lambda)): logistic loss for two classes, softmax (one tree per class per round) for more, squared error for numbers; 100 rounds of depth 6, learning rate 0.1. Classification on integer labels (ml.predict answers with the label as text). NULL or NaN features are missing values; keeps the rows in memory up to pgscore.max_training_memory.';
COMMENT ON AGGREGATE ml.gbt_fit(float8[], bigint) IS
  'Gradient-boosted trees (XGBoost hist-style, Newton leaves -G/(H+lambda)): logistic loss for two classes, softmax (one tree per class per round) for more, squared error for numbers; 100 rounds of depth 6, learning rate 0.1. Classification on bigint labels (ml.predict answers with the label as text). NULL or NaN features are missing values; keeps the rows in memory up to pgscore.max_training_memory.';
COMMENT ON AGGREGATE ml.gbt_fit(float8[], text) IS
  'Gradient-boosted trees (XGBoost hist-style, Newton leaves -G/(H+lambda)): logistic loss for two classes, softmax (one tree per class per round) for more, squared error for numbers; 100 rounds of depth 6, learning rate 0.1. Classification on text labels (ml.predict answers with the label as text). NULL or NaN features are missing values; keeps the rows in memory up to pgscore.max_training_memory.';
COMMENT ON AGGREGATE ml.gbt_fit(float8[], float8) IS
  'Gradient-boosted trees (XGBoost hist-style, Newton leaves -G/(H+lambda)): logistic loss for two classes, softmax (one tree per class per round) for more, squared error for numbers; 100 rounds of depth 6, learning rate 0.1. Regression on a float8 label. NULL or NaN features are missing values; keeps the rows in memory up to pgscore.max_training_memory.';
COMMENT ON AGGREGATE ml.gbt_fit(float8[], boolean, jsonb) IS
  'Gradient-boosted trees classification (boolean label) with options: n_trees (100 rounds), max_depth (6), learning_rate (0.1), subsample (1), lambda (1), min_child_weight (1), min_samples_leaf (1), features_per_split (1 = all), max_bins (255), early_stopping_rounds (null = off), validation_fraction (0.1), seed (0), nulls ("missing" | "error" | "skip").';
COMMENT ON AGGREGATE ml.gbt_fit(float8[], smallint, jsonb) IS
  'Gradient-boosted trees classification (smallint label) with options: n_trees (100 rounds), max_depth (6), learning_rate (0.1), subsample (1), lambda (1), min_child_weight (1), min_samples_leaf (1), features_per_split (1 = all), max_bins (255), early_stopping_rounds (null = off), validation_fraction (0.1), seed (0), nulls ("missing" | "error" | "skip").';
COMMENT ON AGGREGATE ml.gbt_fit(float8[], integer, jsonb) IS
  'Gradient-boosted trees classification (integer label) with options: n_trees (100 rounds), max_depth (6), learning_rate (0.1), subsample (1), lambda (1), min_child_weight (1), min_samples_leaf (1), features_per_split (1 = all), max_bins (255), early_stopping_rounds (null = off), validation_fraction (0.1), seed (0), nulls ("missing" | "error" | "skip").';
COMMENT ON AGGREGATE ml.gbt_fit(float8[], bigint, jsonb) IS
  'Gradient-boosted trees classification (bigint label) with options: n_trees (100 rounds), max_depth (6), learning_rate (0.1), subsample (1), lambda (1), min_child_weight (1), min_samples_leaf (1), features_per_split (1 = all), max_bins (255), early_stopping_rounds (null = off), validation_fraction (0.1), seed (0), nulls ("missing" | "error" | "skip").';
COMMENT ON AGGREGATE ml.gbt_fit(float8[], text, jsonb) IS
  'Gradient-boosted trees classification (text label) with options: n_trees (100 rounds), max_depth (6), learning_rate (0.1), subsample (1), lambda (1), min_child_weight (1), min_samples_leaf (1), features_per_split (1 = all), max_bins (255), early_stopping_rounds (null = off), validation_fraction (0.1), seed (0), nulls ("missing" | "error" | "skip").';
COMMENT ON AGGREGATE ml.gbt_fit(float8[], float8, jsonb) IS
  'Gradient-boosted trees regression (float8 label) with options: n_trees (100 rounds), max_depth (6), learning_rate (0.1), subsample (1), lambda (1), min_child_weight (1), min_samples_leaf (1), features_per_split (1 = all), max_bins (255), early_stopping_rounds (null = off), validation_fraction (0.1), seed (0), nulls ("missing" | "error" | "skip").';
