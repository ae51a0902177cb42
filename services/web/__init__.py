"""The people's side of Accord: the handler console and the customer's page (`accord run console`)
and the channels' HTTP gateway (`accord run gateway`). They read the case views and send every
action as a command on `negotiation.commands` through `services.publish`."""
