package consumer_test

import (
	"fmt"

	"github.com/receiptd/receiptd/consumer"
)

func ExampleDecodeEvent() {
	ev, err := consumer.DecodeEvent([]byte(`{"type":"c2c_read","user_id":"alice","conv_id":"bob","conv_msg_seq":[7,5,7]}`), consumer.Limits{})
	fmt.Println(ev.Key.Action, ev.Key.UserID, ev.Key.ConvID, ev.Seqs, err)

	_, err = consumer.DecodeEvent([]byte(`{"user_id":"alice","group_id":"team-42","conv_msg_seq":[3,0]}`), consumer.Limits{})
	fmt.Println(err)
	// Output:
	// C2cReadReceipt alice bob [5 7] <nil>
	// conv_msg_seq[1]: 0 is below 1
}
