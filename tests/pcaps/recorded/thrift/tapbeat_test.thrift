// The test service of tests/pcaps/recorded/record-thrift.sh (written for
// tapbeat): one method per kind of value, a declared exception, a one-way
// call, and a second service for the multiplexed protocol.
namespace py tapbeat_test

exception InvalidOperation {
  1: i32 whatOp,
  2: string why,
}

enum Operation {
  ADD = 1,
  DIVIDE = 4,
}

struct Work {
  1: i32 num1 = 0,
  2: i32 num2,
  3: Operation op,
  4: optional string comment,
}

struct Item {
  1: i64 id,
  2: string name,
  3: list<string> tags,
  4: map<string, double> scores,
  5: optional binary blob,
  6: bool active,
}

service Calculator {
  void ping(),
  i32 add(1: i32 num1, 2: i32 num2),
  i16 add16(1: i16 num1, 2: i16 num2),
  i64 add64(1: i64 num1, 2: i64 num2),
  double add_doubles(1: double num1, 2: double num2),
  bool echo_bool(1: bool b),
  i8 echo_byte(1: i8 b),
  string echo_string(1: string s),
  binary echo_binary(1: binary b),
  list<i32> echo_list(1: list<i32> l),
  set<string> echo_set(1: set<string> s),
  map<string, i32> echo_map(1: map<string, i32> m),
  Item echo_item(1: Item item),
  list<Item> find(1: string query, 2: i32 limit),
  i32 calculate(1: i32 logid, 2: Work w) throws (1: InvalidOperation ouch),
  oneway void zip(1: i32 delay),
}

service Greeter {
  string hello(1: string name),
}
