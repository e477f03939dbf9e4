/* The evaluation's result as JSON and as markdown (see include/cldim/eval.h). */
#include <string.h>

#include "cldim/eval.h"
#include "cldim/io.h"

dim_status dim_eval_write_json(const dim_eval_result *r, FILE *f, dim_error *err)
{
	dim_json j;
	dim_json_init(&j, f, 2);
	dim_json_begin_object(&j);
	dim_json_kv_string(&j, "checkpoint", r->checkpoint);
	dim_json_kv_int(&j, "step", r->step);
	dim_json_kv_string(&j, "data", r->data);
	dim_json_kv_int(&j, "train_images", (int64_t)r->train_images);
	dim_json_kv_int(&j, "test_images", (int64_t)r->test_images);
	dim_json_kv_string(&j, "linear_solver", "lbfgs");
	dim_json_kv_int(&j, "linear_max_iter", r->lin.max_iter);
	dim_json_kv_number(&j, "linear_gtol", r->lin.gtol);
	dim_json_kv_number(&j, "linear_ftol", r->lin.ftol);
	dim_json_kv_int(&j, "mlp_epochs", r->mlp.epochs);
	dim_json_kv_number(&j, "mlp_lr", r->mlp.lr);
	dim_json_kv_number(&j, "mlp_holdout", r->mlp.holdout);
	dim_json_kv_int(&j, "mlp_patience", r->mlp.patience);
	dim_json_kv_int(&j, "k", r->k);
	dim_json_key(&j, "rows");
	dim_json_begin_array(&j);
	for (int i = 0; i < r->nrows; i++) {
		const dim_eval_row *w = &r->rows[i];
		dim_json_begin_object(&j);
		dim_json_kv_string(&j, "model", w->model);
		dim_json_kv_string(&j, "repr", w->repr);
		dim_json_kv_int(&j, "dim", w->dim);
		dim_json_kv_number(&j, "linear", w->lin.test_acc);
		dim_json_kv_number(&j, "linear_train", w->lin.train_acc);
		dim_json_kv_number(&j, "linear_l2", w->lin.l2);
		dim_json_kv_int(&j, "linear_iters", w->lin.iters);
		dim_json_kv_string(&j, "linear_stop", w->lin.stop);
		dim_json_kv_int(&j, "linear_converged", w->lin.converged);
		dim_json_kv_number(&j, "linear_grad_max", w->lin.grad_max);
		dim_json_kv_number(&j, "mlp", w->mlp.test_acc);
		dim_json_kv_number(&j, "mlp_train", w->mlp.train_acc);
		dim_json_kv_number(&j, "mlp_heldout", w->mlp.heldout_acc);
		dim_json_kv_int(&j, "mlp_best_epoch", w->mlp.best_epoch);
		dim_json_kv_int(&j, "mlp_epochs_run", w->mlp.epochs);
		dim_json_kv_number(&j, "knn", w->knn);
		dim_json_kv_number(&j, "seconds", w->seconds);
		dim_json_end_object(&j);
	}
	dim_json_end_array(&j);
	if (r->ndm) {
		dim_json_key(&j, "ndm");
		dim_json_begin_object(&j);
		for (int m = 0; m < DIM_EVAL_MODELS; m++) {
			const dim_eval_model *md = &r->models[m];
			if (!md->present)
				continue;
			dim_json_key(&j, md->name);
			dim_json_begin_object(&j);
			dim_json_kv_number(&j, "sigmoid", md->ndm_sigmoid);
			dim_json_kv_number(&j, "raw", md->ndm_raw);
			if (r->mine)
				dim_json_kv_number(&j, "mine", md->mine);
			dim_json_end_object(&j);
		}
		dim_json_end_object(&j);
	}
	dim_json_end_object(&j);
	return dim_json_finish(err, &j, "the evaluation JSON");
}

void dim_eval_write_markdown(const dim_eval_result *r, FILE *f)
{
	char l2s[32] = "chosen on 10% of train";
	if (r->lin.l2 >= 0)
		snprintf(l2s, sizeof l2s, "%g", r->lin.l2);
	fprintf(f, "checkpoint %s (step %lld), data %s: %zu train / %zu test images; linear: "
		"L-BFGS, l2 %s, stop at max|g| <= %g; mlp %d epochs, %d-NN (cosine)\n\n",
		r->checkpoint, r->step, r->data, r->train_images, r->test_images, l2s, r->lin.gtol,
		r->mlp.epochs, r->k);
	fprintf(f, "| model | repr | dim | linear | l2 | iterations (stop) | MLP (200) | %d-NN |\n",
		r->k);
	fprintf(f, "|---|---|---:|---:|---:|---|---:|---:|\n");
	for (int i = 0; i < r->nrows; i++) {
		const dim_eval_row *w = &r->rows[i];
		fprintf(f, "| %s | %s | %d | %.2f | %g | %d (%s) | %.2f | %.2f |\n", w->model,
			w->repr, w->dim, 100 * w->lin.test_acc, w->lin.l2, w->lin.iters, w->lin.stop,
			100 * w->mlp.test_acc, 100 * w->knn);
	}
	if (!r->ndm)
		return;
	fprintf(f, "\n| model | NDM σ(Y) (raw Y) |%s\n|---|---:|%s\n",
		r->mine ? " MINE I(X;Y), nats |" : "", r->mine ? "---:|" : "");
	for (int m = 0; m < DIM_EVAL_MODELS; m++) {
		const dim_eval_model *md = &r->models[m];
		if (!md->present)
			continue;
		fprintf(f, "| %s | %.4f (%.4f) |", md->name, md->ndm_sigmoid, md->ndm_raw);
		if (r->mine)
			fprintf(f, " %.4f |", md->mine);
		fprintf(f, "\n");
	}
}
