# The seed tutorial's network in plain R (base R only), started from a glassnet trace.
#
#   Rscript r/article.R trace.json N out.json
#
# Reads the starting weights W1, b1, W2, b2 (steps[0].params_before), the data X (quantity "A0" of
# step 1), the targets Y (quantity "Y" of step 1) and the learning rate (the network's optimizer) from a
# trace written by glassnet (`glassnet trace --preset article --json trace.json`), then runs N steps of
# the tutorial's algorithm -- sigmoid hidden and output layers, E = Y - output, gradient descent on
# half the sum of squared errors, full batch -- and writes, per step, the loss, the output, E and the
# parameters after the update, every number with 17 significant digits (round-trip exact).
#
# Names follow glassnet (design.md); the tutorial's are wh=W1, bh=b1, wout=W2, bout=b2,
# hidden_layer_input=Z1, hiddenlayer_activations=A1, output=A2. Each line below is the operation
# glassnet performs, in the same order, so the numbers agree to rounding.

# -- a small JSON reader ---------------------------------------------------------------------------------
# Objects become named lists, arrays of numbers numeric vectors, other arrays lists, null NULL.
json_read <- function(path) {
  if (!file.exists(path)) stop(sprintf("cannot read %s: no such file", path), call. = FALSE)
  text <- paste(readLines(path, warn = FALSE, encoding = "UTF-8"), collapse = "\n")
  pattern <- paste0('"(?:[^"\\\\]|\\\\.)*"|-?(?:[0-9]+)(?:\\.[0-9]+)?(?:[eE][+-]?[0-9]+)?',
                    '|true|false|null|NaN|-?Infinity|[][{}:,]')
  tokens <- regmatches(text, gregexpr(pattern, text, perl = TRUE))[[1]]
  numbers <- suppressWarnings(as.numeric(sub("Infinity", "Inf", tokens, fixed = TRUE)))
  pos <- 1L
  fail <- function(what) stop(sprintf("%s: invalid JSON near token %d (%s): %s", path, pos,
                                      if (pos <= length(tokens)) tokens[pos] else "end of file", what),
                              call. = FALSE)
  value <- function() {
    if (pos > length(tokens)) fail("unexpected end")
    tok <- tokens[pos]
    pos <<- pos + 1L
    first <- substr(tok, 1L, 1L)
    if (tok == "{") {
      out <- list()
      if (tokens[pos] == "}") { pos <<- pos + 1L; return(out) }
      repeat {
        key <- tokens[pos]
        if (substr(key, 1L, 1L) != '"' || tokens[pos + 1L] != ":") fail("expected a key and ':'")
        pos <<- pos + 2L
        v <- value()
        out[json_string(key)] <- list(v)
        sep <- tokens[pos]
        pos <<- pos + 1L
        if (sep == "}") return(out)
        if (sep != ",") fail("expected ',' or '}'")
      }
    }
    if (tok == "[") {
      out <- list()
      if (tokens[pos] == "]") { pos <<- pos + 1L; return(out) }
      repeat {
        out[[length(out) + 1L]] <- value()
        sep <- tokens[pos]
        pos <<- pos + 1L
        if (sep == "]") break
        if (sep != ",") fail("expected ',' or ']'")
      }
      # an array of plain numbers (not of one-element arrays) becomes a numeric vector
      scalar_number <- vapply(out, function(v) is.numeric(v) && length(v) == 1L && is.null(attributes(v)),
                              logical(1))
      if (all(scalar_number)) return(structure(unlist(out), json_array = TRUE))
      return(out)
    }
    if (first == '"') return(json_string(tok))
    if (tok == "true") return(TRUE)
    if (tok == "false") return(FALSE)
    if (tok == "null") return(NULL)
    if (!is.na(numbers[pos - 1L]) || tok == "NaN") return(numbers[pos - 1L])
    fail("unexpected token")
  }
  result <- value()
  if (pos <= length(tokens)) fail("trailing content")
  result
}

json_string <- function(tok) {
  s <- substr(tok, 2L, nchar(tok) - 1L)
  if (!grepl("\\", s, fixed = TRUE)) return(s)
  while (grepl("\\\\u[0-9a-fA-F]{4}", s)) {
    m <- regmatches(s, regexpr("\\\\u[0-9a-fA-F]{4}", s))
    s <- sub(m, intToUtf8(strtoi(substr(m, 3L, 6L), 16L)), s, fixed = TRUE)
  }
  s <- gsub('\\\\(["/])', "\\1", s)
  s <- gsub("\\\\n", "\n", s)
  s <- gsub("\\\\t", "\t", s)
  gsub("\\\\\\\\", "\\\\", s)
}

# -- a small JSON writer -----------------------------------------------------------------------------------
num <- function(x) {
  out <- sprintf("%.17g", x)
  out[is.nan(x)] <- "NaN"
  out[is.infinite(x)] <- ifelse(x[is.infinite(x)] > 0, "Infinity", "-Infinity")
  out
}

# Rows of strings (one per step) from columns of formatted numbers: one array per step, of shape `shape`
# (a vector when length 1), its numbers in columns first, first + 1, ... (row-major).
json_arrays <- function(cells, first, shape) {
  ncol <- shape[length(shape)]
  rows <- lapply(seq_len(if (length(shape) == 2L) shape[1] else 1L), function(i) {
    cols <- first + (i - 1L) * ncol + seq_len(ncol) - 1L
    paste0("[", do.call(paste, c(lapply(cols, function(j) cells[, j]), sep = ", ")), "]")
  })
  if (length(shape) == 1L) return(rows[[1]])
  paste0("[", do.call(paste, c(rows, sep = ", ")), "]")
}

# -- reading the trace -------------------------------------------------------------------------------------
as_matrix <- function(v, what) {
  if (is.numeric(v)) return(matrix(v, nrow = 1L))  # a 1-D array: one row
  if (!is.list(v) || !length(v)) stop(sprintf("%s is not a matrix in the trace", what), call. = FALSE)
  do.call(rbind, lapply(v, as.numeric))
}
as_vector <- function(v) as.numeric(unlist(v))  # b as (n,) or (1, n)

quantity <- function(step, names) {
  for (q in step$quantities) if (!is.null(q$name) && q$name %in% names) return(q$value)
  NULL
}

# The tutorial's network only: sigmoid layers, half SSE, plain full-batch gradient descent.
check_network <- function(net, path) {
  bad <- function(what) {
    stop(sprintf(paste("%s: %s; this script runs the tutorial's network",
                       "(sigmoid layers, half_sse, SGD without momentum, full batch)"), path, what),
         call. = FALSE)
  }
  if (!is.null(net$loss) && !identical(net$loss, "half_sse")) bad(sprintf("the loss is %s", net$loss))
  opt <- net$optimizer
  if (!is.null(opt$class) && !identical(opt$class, "SGD")) bad(sprintf("the optimizer is %s", opt$class))
  if (isTRUE(opt$momentum > 0)) bad(sprintf("the optimizer has momentum %s", opt$momentum))
  for (layer in net$layers) {
    if (!is.null(layer$activation) && !identical(layer$activation, "sigmoid")) {
      bad(sprintf("layer %s has activation %s", layer$layer, layer$activation))
    }
  }
  if (!is.null(net$batch_size) && !is.null(net$n_samples) && net$batch_size < net$n_samples) {
    bad(sprintf("it trained on mini-batches of %s rows", net$batch_size))
  }
}

read_trace <- function(path) {
  trace <- json_read(path)
  if (!length(trace$steps)) stop(sprintf("%s has no steps", path), call. = FALSE)
  check_network(trace$network, path)
  first <- trace$steps[[1]]
  p <- first$params_before
  missing <- setdiff(c("W1", "b1", "W2", "b2"), names(p))
  if (length(missing)) {
    stop(sprintf("%s: steps[0].params_before lacks %s; this script runs the article network (W1, b1, W2, b2)",
                 path, paste(missing, collapse = ", ")), call. = FALSE)
  }
  if (length(setdiff(names(p), c("W1", "b1", "W2", "b2")))) {
    stop(sprintf("%s: the network has parameters %s; this script runs one hidden layer (W1, b1, W2, b2)",
                 path, paste(names(p), collapse = ", ")), call. = FALSE)
  }
  X <- quantity(first, "A0")
  Y <- quantity(first, "Y")
  if (is.null(X) || is.null(Y)) {
    stop(sprintf("%s: step 1 must record the data A0 and the targets Y", path), call. = FALSE)
  }
  lr <- trace$network$optimizer$learning_rate  # a number; a schedule's config would be a list
  if (!is.numeric(lr) || length(lr) != 1L) {
    stop(sprintf("%s: network.optimizer.learning_rate must be one constant number", path), call. = FALSE)
  }
  list(W1 = as_matrix(p$W1, "W1"), b1 = as_vector(p$b1), W2 = as_matrix(p$W2, "W2"), b2 = as_vector(p$b2),
       X = as_matrix(X, "A0"), Y = as_matrix(Y, "Y"), lr = lr[[1]])
}

# -- the tutorial's algorithm ------------------------------------------------------------------------------
sigmoid <- function(z) 1 / (1 + exp(-z))
add_bias <- function(z, b) z + matrix(b, nrow(z), length(b), byrow = TRUE)  # z + b on every row
sum_rows <- function(m) {  # row after row, as NumPy sums over axis 0
  s <- m[1L, ]
  for (i in seq_len(nrow(m))[-1L]) s <- s + m[i, ]
  s
}

train_step <- function(net) {
  X <- net$X; Y <- net$Y; lr <- net$lr
  # forward
  Z1 <- add_bias(X %*% net$W1, net$b1)  # hidden_layer_input (N, h)
  A1 <- sigmoid(Z1)  # hiddenlayer_activations (N, h)
  Z2 <- add_bias(A1 %*% net$W2, net$b2)  # output_layer_input (N, o)
  A2 <- sigmoid(Z2)  # output (N, o)
  # the loss and its gradient: L = 1/2 sum(E^2), E = Y - A2, dL/dA2 = A2 - Y = -E
  E <- Y - A2
  loss <- 0.5 * sum(E * E)
  dA2 <- A2 - Y
  dZ2 <- dA2 * (A2 * (1 - A2))  # E * slope_output_layer, negated
  dW2 <- t(A1) %*% dZ2  # (h, o)
  db2 <- sum_rows(dZ2)  # (o)
  dA1 <- dZ2 %*% t(net$W2)  # Error_at_hidden_layer, negated (N, h)
  dZ1 <- dA1 * (A1 * (1 - A1))  # d_hiddenlayer, negated
  dW1 <- t(X) %*% dZ1  # (n_in, h)
  db1 <- sum_rows(dZ1)  # (h)
  # gradient descent: p = p - lr * dp, i.e. the tutorial's wout += A1^T . d_output * lr
  net$W2 <- net$W2 - dW2 * lr
  net$b2 <- net$b2 - db2 * lr
  net$W1 <- net$W1 - dW1 * lr
  net$b1 <- net$b1 - db1 * lr
  list(net = net, loss = loss, output = A2, E = E)
}

main <- function(args) {
  if (length(args) != 3L) {
    stop("usage: Rscript r/article.R trace.json N out.json", call. = FALSE)
  }
  steps <- suppressWarnings(as.integer(args[2]))
  if (is.na(steps) || steps < 1L) {
    stop(sprintf("N must be a positive integer; received %s", args[2]), call. = FALSE)
  }
  net <- read_trace(args[1])
  # every number of a step in one row: loss, output, E, W1, b1, W2, b2 (matrices row-major)
  fields <- list(loss = 1L, output = dim(net$Y), E = dim(net$Y), W1 = dim(net$W1), b1 = length(net$b1),
                 W2 = dim(net$W2), b2 = length(net$b2))
  first <- cumsum(c(1L, vapply(fields, prod, numeric(1))))
  values <- matrix(0, steps, first[length(first)] - 1L)
  row_major <- function(m) as.vector(t(m))
  for (s in seq_len(steps)) {
    r <- train_step(net)
    net <- r$net
    values[s, ] <- c(r$loss, row_major(r$output), row_major(r$E), row_major(net$W1), net$b1,
                     row_major(net$W2), net$b2)
  }
  cells <- matrix(num(values), steps)
  json <- Map(function(shape, at) json_arrays(cells, at, shape), fields, first[-length(first)])
  json$loss <- cells[, 1L]
  records <- sprintf(
    paste('{"step": %d, "loss": %s, "output": %s, "E": %s,',
          '"params_after": {"W1": %s, "b1": %s, "W2": %s, "b2": %s}}'),
    seq_len(steps), json$loss, json$output, json$E, json$W1, json$b1, json$W2, json$b2)
  out <- paste0('{"source": "r/article.R", "learning_rate": ', num(net$lr), ', "steps": [\n',
                paste(records, collapse = ",\n"), "\n]}\n")
  tmp <- paste0(args[3], ".tmp")
  writeLines(out, tmp, sep = "")
  file.rename(tmp, args[3])
  invisible(NULL)
}

main(commandArgs(trailingOnly = TRUE))
