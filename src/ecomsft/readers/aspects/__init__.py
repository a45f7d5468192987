"""An aspects run after training: ``AspectReader`` (opinion quadruples of reviews, a file scored
one row per opinion, the summary over a whole file), ``POST /v1/aspects``, its report sections and
terminal summary."""
