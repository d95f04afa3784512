// Applies a region's Kafka access plan (topics, SCRAM credentials, ACLs) through the Admin
// API, in one JVM. Run by regions/stack/kafka_acls.py as a single-file source program:
//
//   java -cp '<kafka libs>/*' RegionAccess.java <bootstrap> [<admin client properties file>]
//
// The plan is read from stdin, one instruction per line, so that passwords never appear on
// a command line (visible to every user in process listings) or in a log:
//
//   topic <name> <partitions> <replication factor> [<config>=<value> ...]
//   scram <user> <password: the rest of the line>
//   acl <ALLOW|DENY> <operation> <TOPIC|GROUP> <LITERAL|PREFIXED> <resource name> <principal>
//
// Every step is idempotent: an existing topic is kept, a credential is upserted, and an ACL
// binding that exists already is not duplicated by the broker.
import java.io.BufferedReader;
import java.io.FileInputStream;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.ScramCredentialInfo;
import org.apache.kafka.clients.admin.ScramMechanism;
import org.apache.kafka.clients.admin.UserScramCredentialAlteration;
import org.apache.kafka.clients.admin.UserScramCredentialUpsertion;
import org.apache.kafka.common.acl.AccessControlEntry;
import org.apache.kafka.common.acl.AclBinding;
import org.apache.kafka.common.acl.AclOperation;
import org.apache.kafka.common.acl.AclPermissionType;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.resource.PatternType;
import org.apache.kafka.common.resource.ResourcePattern;
import org.apache.kafka.common.resource.ResourceType;

public class RegionAccess {
  // SCRAM-SHA-512 with the RFC 7677 recommended minimum for SHA-2 family iterations.
  private static final int SCRAM_ITERATIONS = 8192;

  public static void main(String[] args) throws Exception {
    if (args.length < 1 || args.length > 2) {
      System.err.println("usage: RegionAccess <bootstrap> [<admin properties file>] < plan");
      System.exit(2);
    }
    Properties props = new Properties();
    if (args.length == 2) {
      try (FileInputStream in = new FileInputStream(args[1])) {
        props.load(in);
      }
    }
    props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, args[0]);

    List<NewTopic> topics = new ArrayList<>();
    List<UserScramCredentialAlteration> credentials = new ArrayList<>();
    List<AclBinding> acls = new ArrayList<>();
    BufferedReader plan =
        new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
    for (String line = plan.readLine(); line != null; line = plan.readLine()) {
      if (line.isBlank()) {
        continue;
      }
      String[] word = line.split(" ", 3);
      switch (word[0]) {
        case "topic" -> topics.add(topic(line.split(" ")));
        case "scram" -> credentials.add(
            new UserScramCredentialUpsertion(
                word[1],
                new ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, SCRAM_ITERATIONS),
                word[2]));
        case "acl" -> acls.add(acl(line.split(" ")));
        default -> throw new IllegalArgumentException("unknown instruction " + word[0]);
      }
    }

    try (Admin admin = Admin.create(props)) {
      for (NewTopic topic : topics) {
        try {
          admin.createTopics(List.of(topic)).all().get(60, TimeUnit.SECONDS);
          System.out.println("topic " + topic.name() + ": created");
        } catch (ExecutionException e) {
          if (!(e.getCause() instanceof TopicExistsException)) {
            throw e;
          }
          System.out.println("topic " + topic.name() + ": exists");
        }
      }
      if (!credentials.isEmpty()) {
        admin.alterUserScramCredentials(credentials).all().get(60, TimeUnit.SECONDS);
        for (UserScramCredentialAlteration c : credentials) {
          System.out.println("scram " + c.user() + ": set"); // the user, never the password
        }
      }
      if (!acls.isEmpty()) {
        admin.createAcls(acls).all().get(60, TimeUnit.SECONDS);
        for (AclBinding b : acls) {
          System.out.println("acl " + b);
        }
      }
    }
  }

  private static NewTopic topic(String[] word) {
    NewTopic topic =
        new NewTopic(word[1], Integer.parseInt(word[2]), Short.parseShort(word[3]));
    Map<String, String> configs = new HashMap<>();
    for (int i = 4; i < word.length; i++) {
      String[] kv = word[i].split("=", 2);
      configs.put(kv[0], kv[1]);
    }
    return topic.configs(configs);
  }

  private static AclBinding acl(String[] word) {
    if (word.length != 7) {
      throw new IllegalArgumentException("acl needs 6 fields: " + String.join(" ", word));
    }
    return new AclBinding(
        new ResourcePattern(
            ResourceType.valueOf(word[3]), word[5], PatternType.valueOf(word[4])),
        new AccessControlEntry(
            word[6], "*", AclOperation.valueOf(word[2]), AclPermissionType.valueOf(word[1])));
  }
}
