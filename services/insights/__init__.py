"""Early warning and continuous improvement: surge detection and dispute risk over the step
topics (a faust-streaming service), and fitting the risk model on the CFPB sample."""
